"""core/bandwidth.py: rates as tc writes them, and the refusals (0, below
8 kbit/s, beyond the link, malformed), each naming the option."""

from __future__ import annotations

import pytest

from boxnet.core import bandwidth
from boxnet.core.epopts import check_settings
from boxnet.errors import InvalidParameter
from boxnet.model import EndpointSettings


@pytest.mark.parametrize("text,bps", [
    ("5mbit", 5_000_000), ("1.5Gbit", 1_500_000_000), ("64kbit", 64_000),
    ("1mibit", 1_048_576), ("10mbps", 80_000_000), ("10gbit", 10_000_000_000),
    (" 500 mbit ", 500_000_000),
])
def test_parse(text, bps):
    assert bandwidth.parse_rate(text, "x") == bps


@pytest.mark.parametrize("text,words", [
    ("0mbit", "above 0"), ("0", "a number and a unit"), ("10", "a number and a unit"),
    ("5 furlongs", "a number and a unit"), ("-5mbit", "a number and a unit"),
    ("7bit", "minimum"), ("10.1gbit", "beyond the link"), ("2gbps", "beyond the link"),
])
def test_refused(text, words):
    with pytest.raises(InvalidParameter) as e:
        bandwidth.parse_rate(text, bandwidth.EGRESS_OPT)
    assert words in str(e.value) and bandwidth.EGRESS_OPT in str(e.value)


def test_endpoint_settings_checked():
    check_settings(EndpointSettings(network_id="n", driver_opts={bandwidth.INGRESS_OPT: "1mbit"}))
    with pytest.raises(InvalidParameter, match=bandwidth.INGRESS_OPT):
        check_settings(EndpointSettings(network_id="n",
                                        driver_opts={bandwidth.INGRESS_OPT: "0kbit"}))
    assert bandwidth.rates({}) == (None, None)
