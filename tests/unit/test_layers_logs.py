"""Pure parts of issue 16 item 6 on temporary trees: docker diff's kinds from an
overlay upper dir (whiteouts, opaque dirs), the log clock's records and lookups,
the timed log reader, and MacAddress by API version.  Needs root for mknod and
trusted.* xattrs (skipped otherwise)."""

from __future__ import annotations

import asyncio
import os
import struct

import pytest

from boxnet.api.routes import logtimed, macaddr
from boxnet.errors import InvalidParameter
from boxnet.model import EndpointSettings
from boxnet.runtime import diff, logclock


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root (mknod, trusted.* xattrs)")
def test_diff_kinds(tmp_path):
    lower, upper = tmp_path / "lower", tmp_path / "upper"
    for d in ("etc", "bin", "var/lib/old"):
        (lower / d).mkdir(parents=True)
    (lower / "etc" / "passwd").write_text("root\n")
    (lower / "bin" / "vi").write_text("")
    (lower / "var" / "lib" / "old" / "gone").write_text("")
    (upper / "etc").mkdir(parents=True)
    (upper / "etc" / "passwd").write_text("root\nnew\n")
    (upper / "etc" / "hosts").write_text("")          # a runtime mount point: hidden
    (upper / "bin").mkdir()
    os.mknod(upper / "bin" / "vi", 0o600 | 0o020000, os.makedev(0, 0))   # whiteout
    (upper / "srv" / "new").mkdir(parents=True)
    (upper / "srv" / "new" / "f").write_text("x")
    (upper / "var" / "lib" / "old").mkdir(parents=True)
    os.setxattr(upper / "var" / "lib" / "old", "trusted.overlay.opaque", b"y")
    (upper / "proc").mkdir()
    got = [(c["Path"], c["Kind"]) for c in diff.changes(str(upper), str(lower), {"/data"})]
    assert got == [("/bin", 0), ("/bin/vi", 2), ("/etc", 0), ("/etc/passwd", 0),
                   ("/srv", 1), ("/srv/new", 1), ("/srv/new/f", 1), ("/var", 0),
                   ("/var/lib", 0), ("/var/lib/old", 0), ("/var/lib/old/gone", 2)]


async def test_log_clock_records_growth(tmp_path):
    log = tmp_path / "stdout.log"
    log.write_bytes(b"")
    clock = logclock.LogClock()
    clock.watch(str(log))
    with open(log, "ab") as f:
        f.write(b"one\n")
        f.flush()
        for _ in range(100):
            await asyncio.sleep(0.01)
            if os.path.getsize(logclock.times_path(str(log))) >= 2 * logclock.REC.size:
                break
        first = os.stat(log).st_mtime_ns
        await asyncio.sleep(0.05)
        f.write(b"two\n")
        f.flush()
        for _ in range(100):
            await asyncio.sleep(0.01)
            if os.path.getsize(logclock.times_path(str(log))) >= 3 * logclock.REC.size:
                break
    clock.close()
    recs = [logclock.REC.unpack_from(b, 0) for b in _chunks(
        open(logclock.times_path(str(log)), "rb").read())]
    assert [r[0] for r in recs] == [0, 4, 8], recs
    times = logclock.LogTimes(str(log))
    assert times.time_of(4) == first and times.time_of(8) > first
    assert times.time_of(100) == os.stat(log).st_mtime_ns   # beyond the records: mtime
    times.close()


def _chunks(data: bytes):
    return [data[i:i + logclock.REC.size] for i in range(0, len(data), logclock.REC.size)]


def test_timed_lines_and_formats(tmp_path):
    log = tmp_path / "out.log"
    log.write_bytes(b"a\nbb\ntail")
    with open(logclock.times_path(str(log)), "wb") as f:
        f.write(struct.pack("<QQ", 2, 1_000_000_001) + struct.pack("<QQ", 5, 2_000_000_000))
    fd = os.open(log, os.O_RDONLY)
    t = logclock.LogTimes(str(log))
    got = list(logtimed.lines(fd, 0, 9, t, 1))
    os.close(fd)
    t.close()
    assert [(x[0], x[2]) for x in got[:2]] == [(1_000_000_001, b"a\n"), (2_000_000_000, b"bb\n")]
    assert got[2][2] == b"tail"
    assert logtimed.stamp(1_000_000_001) == b"1970-01-01T00:00:01.000000001Z"
    assert logtimed.parse_time("1700000000.5", "since") == 1_700_000_000_500_000_000
    assert logtimed.parse_time("0", "since") is None
    assert logtimed.parse_time("2023-11-14T22:13:20Z", "until") == 1_700_000_000 * 10 ** 9
    with pytest.raises(InvalidParameter, match="since"):
        logtimed.parse_time("soon", "since")


def test_mac_address_by_version():
    eps = {}
    macaddr.apply_mac_address("02:42:AC:11:00:02", eps, "default", "1.43")
    assert eps["bridge"].mac == "02:42:ac:11:00:02"
    eps = {"net": EndpointSettings(network_id="", mac="02:00:00:00:00:01")}
    macaddr.apply_mac_address("", eps, "net", "1.43")
    assert eps["net"].mac == ""            # 1.43 never read the endpoint's field
    eps = {"net": EndpointSettings(network_id="", mac="02-00-00-00-00-0A")}
    macaddr.apply_mac_address("", eps, "net", "1.44")
    assert eps["net"].mac == "02:00:00:00:00:0a"
    eps = {"net": EndpointSettings(network_id="", mac="02:00:00:00:00:01")}
    with pytest.raises(InvalidParameter, match="must match"):
        macaddr.apply_mac_address("02:00:00:00:00:02", eps, "net", None)
    with pytest.raises(InvalidParameter, match="conflicting options"):
        macaddr.apply_mac_address("02:00:00:00:00:02", {}, "host", "1.41")
    for bad in ("02:00:00:00:00", "zz:00:00:00:00:00", "01:00:5e:00:00:01"):
        with pytest.raises(InvalidParameter, match="MAC"):
            macaddr.check_mac(bad, "MacAddress")
