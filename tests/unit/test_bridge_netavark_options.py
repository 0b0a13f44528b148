"""netavark's bare option names are refused by the bridge driver, naming the option
(a Podman user's `-o metric=100` must not be silently dropped)."""

import pytest

from boxnet.drivers.bridge import options
from boxnet.errors import InvalidParameter
from boxnet.model import Network


@pytest.mark.parametrize("key", ["mtu", "isolate", "metric", "routes", "no_default_route",
                                 "vrf", "vlan", "mode"])
def test_netavark_option_refused(key):
    with pytest.raises(InvalidParameter, match=f"option {key} is not supported by boxnet"):
        options.validate(Network(id="x", name="n", options={key: "1"}))


def test_docker_generic_option_kept():
    options.validate(Network(id="x", name="n", options={"com.example.team": "web"}))
