"""Strict integer, signal and timestamp parsing of API parameters (api/params.py)."""

from __future__ import annotations

import pytest

from boxnet.api import filters
from boxnet.api.params import INT32_MAX, parse_int, parse_signal, parse_timestamp
from boxnet.errors import InvalidParameter

# Every one of these is accepted by Python's int() or str.isdigit(), none by Docker.
NOT_INTEGERS = ["³", "٣", "１", "1_0", " 1", "1 ", "\t1", "1\n", "+", "-", "", "0x10",
                "1e3", "1.0", "nan", "inf", "١٢", "1,0", "²5"]


@pytest.mark.parametrize("value", NOT_INTEGERS)
def test_parse_int_refuses_what_docker_refuses(value):
    with pytest.raises(InvalidParameter, match="invalid value for limit"):
        parse_int(value, "limit")


def test_parse_int_range_and_forms():
    assert parse_int("10", "t") == 10 and parse_int("+7", "t") == 7
    assert parse_int("007", "t") == 7 and parse_int("-1", "t", lo=-1) == -1
    for bad, kw in (("-1", {}), ("-2", {"lo": -1}), (str(INT32_MAX + 1), {}),
                    ("9" * 30, {}), ("9" * 5000, {}), ("65536", {"hi": 65535})):
        with pytest.raises(InvalidParameter, match="out of range"):
            parse_int(bad, "h", **kw)


def test_signals_by_name_and_number():
    for value, num in (("SIGKILL", 9), ("KILL", 9), ("kill", 9), ("SigTerm", 15),
                       ("9", 9), ("+15", 15), ("SIGRTMIN", 34), ("RTMIN+3", 37),
                       ("SIGRTMAX-1", 63), ("RTMAX", 64), ("IOT", 6), ("CLD", 17),
                       ("1", 1), ("64", 64), ("34", 34)):
        assert parse_signal(value) == num, value
    for value in ("³", "٩", "1_0", " 9", "9 ", "0", "-1", "65", "32", "33", "99999999999999",
                  "SIG", "NOPE", "SIG_DFL", "_DFL", "SIG_IGN", "ſigkill", "KİLL", "", "RTMIN+16",
                  "RTMAX-15", "SIGKILL ", "Signals"):
        with pytest.raises(InvalidParameter, match="invalid value for signal"):
            parse_signal(value)


def test_timestamps():
    assert parse_timestamp("1700000000", "since") == 1700000000
    assert parse_timestamp("1700000000.5", "since") == 1700000000.5
    assert parse_timestamp("1700000000.000000001", "since") == pytest.approx(1700000000)
    assert parse_timestamp("2023-11-14T22:13:20Z", "since") == 1700000000
    assert parse_timestamp("2023-11-15T00:13:20+02:00", "since") == 1700000000
    assert parse_timestamp("2023-11-14T22:13:20.250000000Z", "since") == 1700000000.25
    assert parse_timestamp("10m", "since", now=1700000600) == 1700000000
    assert parse_timestamp("1h30m", "since", now=1700005400) == 1700000000
    for bad in ("³", "١٧٠٠", "1_0", " 1", "-1", "nan", "inf", "1e9", "1.", ".5",
                "1.1234567890", "2023-13-01T00:00:00Z", "٢٠٢٣-11-14T22:13:20Z", "x" * 70,
                "9" * 5000, "99999999999999999999", "10 m", "10M", "-10m", "9" * 400 + "h"):
        with pytest.raises(InvalidParameter, match="invalid value for since"):
            parse_timestamp(bad, "since")


def test_until_filter_is_strict():
    assert filters.until_ts("1700000000") == 1700000000
    with pytest.raises(InvalidParameter, match="until filter"):
        filters.until_ts("١٧٠٠٠٠٠٠٠٠")
