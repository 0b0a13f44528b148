"""A service network's interface_name goes to the engine as compose v2 sends it:
the endpoint's com.docker.network.endpoint.ifname driver option, beside the
other driver_opts (it was refused before the engine honoured the option)."""

from __future__ import annotations

import textwrap

from boxnet.compose import create, loader


def test_interface_name_is_the_ifname_driver_option(tmp_path):
    f = tmp_path / "compose.yaml"
    f.write_text(textwrap.dedent("""
        name: ifn
        services:
          a:
            image: busybox
            networks:
              n: {interface_name: wan0, driver_opts: {x.y: "1"}}
              m: {}
        networks: {n: {}, m: {}}
        """))
    p = loader.load([str(f)], environ={})
    eps = create.body(p, p.services["a"], 1, lambda s: "cid-" + s)[
        "NetworkingConfig"]["EndpointsConfig"]
    assert eps["ifn_n"]["DriverOpts"] == {"x.y": "1",
                                          "com.docker.network.endpoint.ifname": "wan0"}
    assert "DriverOpts" not in eps["ifn_m"]
