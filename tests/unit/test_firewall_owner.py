"""Owner record of boxnet's nftables tables (firewall/nft/owner.py), with a fake nft."""

from __future__ import annotations

import os

import pytest

from boxnet.errors import Conflict, KernelError
from boxnet.firewall.nft import owner


class FakeNft:
    """Holds one owner table listing; records the scripts run."""

    def __init__(self, listing: str | None = None):
        self.listing, self.scripts = listing, []

    def run(self, text: str) -> str:
        if text.startswith("list table"):
            if self.listing is None:
                raise KernelError("No such file or directory")
            return self.listing
        self.scripts.append(text)
        return ""


def _table(pid: int, oid: str, root: str) -> str:
    return ('table inet boxnet_owner {\n\tcomment "' + owner.record(pid, oid, root) + '"\n}\n')


def test_record_round_trips_and_fits_nft_comments():
    rec = owner.parse(_table(42, "0123456789ab", "/var/lib/boxnet"))
    assert rec == {"pid": 42, "id": "0123456789ab", "root": "/var/lib/boxnet"}
    long = owner.record(7, "0123456789ab", "/x" * 200)
    assert len(long) <= owner.MAX_COMMENT and "root=..." in long


def test_free_netns_and_own_previous_run_are_claimed():
    nft = FakeNft(None)
    assert owner.claim(nft, "aaaaaaaaaaaa", "/d/a", pid=100) is None
    assert 'comment "boxnetd pid=100 id=aaaaaaaaaaaa root=/d/a"' in nft.scripts[-1]
    nft = FakeNft(_table(os.getpid(), "aaaaaaaaaaaa", "/d/a"))   # same root: our last run
    assert owner.claim(nft, "aaaaaaaaaaaa", "/d/a", pid=101)["pid"] == os.getpid()


def test_a_live_other_daemon_is_refused_a_dead_one_taken_over(monkeypatch):
    nft = FakeNft(_table(4242, "bbbbbbbbbbbb", "/d/b"))
    monkeypatch.setattr(owner, "_is_live_boxnetd", lambda pid: True)
    with pytest.raises(Conflict) as e:
        owner.claim(nft, "aaaaaaaaaaaa", "/d/a", pid=100)
    assert "pid 4242" in e.value.message and "/d/b" in e.value.message
    assert "--firewall none" in e.value.message and not nft.scripts   # nothing changed
    monkeypatch.setattr(owner, "_is_live_boxnetd", lambda pid: False)
    assert owner.claim(nft, "aaaaaaaaaaaa", "/d/a", pid=100)["id"] == "bbbbbbbbbbbb"
    assert "id=aaaaaaaaaaaa" in nft.scripts[-1]


def test_a_reused_pid_of_another_program_is_not_an_owner():
    assert not owner._is_live_boxnetd(os.getpid())    # pytest, not boxnetd
    assert not owner._is_live_boxnetd(2 ** 22 + 12345)
