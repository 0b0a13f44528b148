"""Detach keys: Docker's syntax and the input scanner of attach."""

import pytest

from boxnet.api.routes.detach import DetachScanner, parse_detach_keys
from boxnet.errors import InvalidParameter


def test_parse():
    assert parse_detach_keys("ctrl-p,ctrl-q") == b"\x10\x11"
    assert parse_detach_keys("a,ctrl-@,ctrl-[") == b"a\x00\x1b"
    with pytest.raises(InvalidParameter):
        parse_detach_keys("ctrl-1")
    with pytest.raises(InvalidParameter):
        parse_detach_keys("shift-a")


def test_scanner_holds_partial_match_and_detaches():
    s = DetachScanner(b"\x10\x11")
    assert s.feed(b"ls\x10") == (b"ls", False)        # held back
    assert s.feed(b"x") == (b"\x10x", False)          # not the sequence: given back
    assert s.feed(b"a\x10\x10") == (b"a\x10", False)  # restarts on the second ctrl-p
    assert s.feed(b"\x11rest") == (b"", True)


def test_scanner_single_key_and_none():
    assert DetachScanner(b"q").feed(b"abq") == (b"ab", True)
    assert DetachScanner(b"").feed(b"\x10\x11") == (b"\x10\x11", False)
