"""Per-endpoint bandwidth limits (issue 20 section 2): the endpoint options
`com.boxnet.endpoint.egress_rate` (what the container sends) and
`com.boxnet.endpoint.ingress_rate` (what it receives) of EndpointSettings'
DriverOpts (`docker network connect --driver-opt`, `docker run
--network name=N,driver-opt=...`, compose's `x-boxnet: {bandwidth: ...}`).

A rate is written as tc writes it: a number and a unit, `bit`, `kbit`,
`mbit`, `gbit`, `tbit` (powers of 1000), `kibit`, `mibit`, `gibit`, `tibit`
(powers of 1024), or bytes per second `bps`, `kbps`, `mbps`, `gbps`, `tbps`.
A rate of 0, below 8 kbit/s or beyond the link (a veth's 10 Gbit/s, which
is also above what tbf shapes exactly) is a 400 naming the option, before
anything changes. The limits are tc on the host end of the veth
(kernel/tc.py); a driver without one (macvlan, ipvlan) refuses them.
"""

from __future__ import annotations

import re

from ..errors import InvalidParameter
from ..kernel import tc
from ..model import Endpoint

EGRESS_OPT = "com.boxnet.endpoint.egress_rate"
INGRESS_OPT = "com.boxnet.endpoint.ingress_rate"
LINK_BPS = 10_000_000_000   # the nominal speed of a veth (ethtool: 10000Mb/s)
MIN_BPS = 8_000
_UNITS = {"bit": 1, "kbit": 10**3, "mbit": 10**6, "gbit": 10**9, "tbit": 10**12,
          "kibit": 2**10, "mibit": 2**20, "gibit": 2**30, "tibit": 2**40,
          "bps": 8, "kbps": 8 * 10**3, "mbps": 8 * 10**6, "gbps": 8 * 10**9,
          "tbps": 8 * 10**12}
_RATE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([a-z]+)\s*$")


def parse_rate(text: str, option: str) -> int:
    """Bits per second of a rate such as "5mbit", or InvalidParameter naming
    `option` for a malformed one, 0, below 8 kbit/s or beyond the link."""
    m = _RATE.match(text.lower())
    if not m or m.group(2) not in _UNITS:
        raise InvalidParameter(
            f"invalid rate {text!r} ({option}): expected a number and a unit "
            f"(bit, kbit, mbit, gbit, kibit, mibit, gibit, bps, kbps, mbps, gbps), e.g. 10mbit")
    bps = int(float(m.group(1)) * _UNITS[m.group(2)])
    if bps <= 0:
        raise InvalidParameter(f"invalid rate {text!r} ({option}): a rate must be above 0")
    if bps < MIN_BPS:
        raise InvalidParameter(f"invalid rate {text!r} ({option}): below the minimum 8kbit")
    if bps > LINK_BPS:
        raise InvalidParameter(f"invalid rate {text!r} ({option}): beyond the link's "
                               f"{LINK_BPS // 10**9}gbit")
    return bps


def rates(driver_opts: dict[str, str]) -> tuple[int | None, int | None]:
    """(ingress, egress) bits per second asked for in endpoint options
    (None: no limit), each checked by parse_rate."""
    ing = driver_opts.get(INGRESS_OPT)
    eg = driver_opts.get(EGRESS_OPT)
    return (parse_rate(ing, INGRESS_OPT) if ing is not None else None,
            parse_rate(eg, EGRESS_OPT) if eg is not None else None)


def check(driver_opts: dict[str, str]) -> None:
    """The rate options of one endpoint's DriverOpts, each well-formed."""
    rates(driver_opts)


async def apply(nl, ep: Endpoint) -> None:
    """Put the endpoint's limits on the host end of its veth (after the
    driver's join); a driver without a host end refuses them (400)."""
    ingress, egress = rates(ep.driver_opts)
    if ingress is None and egress is None:
        return
    if not ep.host_ifname:
        raise InvalidParameter(
            f"{EGRESS_OPT if egress is not None else INGRESS_OPT} is not supported by this "
            "network's driver: the limits need a veth (bridge networks)")
    await tc.set_rates(nl, ep.host_ifname, ep.id, ingress, egress)


async def remove(nl, ep: Endpoint) -> None:
    """Remove the endpoint's limits (its IFB outlives the veth); nothing to
    do for an endpoint without any."""
    ingress, egress = rates_or_none(ep.driver_opts)
    if (ingress or egress) and ep.host_ifname:
        await tc.clear_rates(nl, ep.host_ifname, ep.id)


def rates_or_none(driver_opts: dict[str, str]) -> tuple[int | None, int | None]:
    """rates(), but options that no longer parse count as limits (a removal
    must go on and still look for the IFB)."""
    try:
        return rates(driver_opts)
    except InvalidParameter:
        return (1, 1)
