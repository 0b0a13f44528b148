"""volumes/options.py, volumes/filters.py and volumes/store.py (plain-directory
volumes need no root): driver options, list and prune rules, the on-disk layout
read back after a restart, a create cut short removed, the copy-up rule."""

from __future__ import annotations

import os
import shutil
import stat

import pytest

from boxnet.errors import InvalidParameter, NotFound
from boxnet.volumes import filters, options
from boxnet.volumes.model import Volume
from boxnet.volumes.names import ANONYMOUS_LABEL
from boxnet.volumes import store as store_mod
from boxnet.volumes.store import VolumeStore


def test_driver_options():
    assert options.plan({}).kind == "dir"
    t = options.plan({"type": "tmpfs", "device": "tmpfs", "o": "size=64m,mode=0700,noexec"})
    assert (t.kind, t.data, t.flags) == ("tmpfs", "size=64m,mode=0700", ("noexec",))
    b = options.plan({"type": "none", "o": "bind,ro", "device": "/srv/data/"})
    assert (b.kind, b.source, b.flags) == ("bind", "/srv/data", ("ro",))


@pytest.mark.parametrize("opts,words", [
    ({"size": "1G"}, 'invalid option key: "size"'), ({"type": "nfs", "device": ":/x"}, "nfs"),
    ({"type": "none", "device": "/x"}, "o=bind"), ({"type": "none", "o": "bind"}, "device"),
    ({"type": "none", "o": "bind", "device": "rel"}, "absolute"),
    ({"type": "tmpfs", "o": "size=1m,weird"}, "weird"), ({"device": "tmpfs"}, '"type"')])
def test_bad_driver_options(opts, words):
    with pytest.raises(InvalidParameter, match=words):
        options.plan(opts)


def _v(name, **labels):
    return Volume(name=name, labels=labels)


def test_list_filters():
    v = _v("data-1", app="web")
    assert filters.matches(v, False, {"name": ["ta-"], "label": ["app=web"], "driver": ["local"]})
    assert not filters.matches(v, False, {"label": ["app=db"]})
    assert filters.matches(v, False, {"dangling": ["true"]})
    assert not filters.matches(v, True, {"dangling": ["1"]})
    assert filters.matches(v, True, {"dangling": ["false"]})
    with pytest.raises(InvalidParameter, match="dangling"):
        filters.matches(v, True, {"dangling": ["maybe"]})


def test_prune_rules():
    anon, named = _v("a" * 64, **{ANONYMOUS_LABEL: ""}), _v("named", team="x")
    assert filters.prunable(anon, False, {}) and not filters.prunable(named, False, {})
    assert not filters.prunable(anon, True, {"all": ["true"]})   # in use: never
    assert filters.prunable(named, False, {"all": ["true"]})
    assert filters.prunable(named, False, {"all": ["1"], "label": ["team=x"]})
    assert not filters.prunable(named, False, {"all": ["1"], "label!": ["team"]})


async def test_store_layout_restart_and_copy_up(tmp_path, monkeypatch):
    async def rmtree(path):   # no program in unit tests: the store's `rm -rf` in-process
        shutil.rmtree(path, ignore_errors=True)
    monkeypatch.setattr(store_mod, "remove_tree", rmtree)
    root = tmp_path / "volumes"
    s = VolumeStore(str(root))
    v, new = s.create("v1", "local", {}, {"k": "v"}, "2026-01-01T00:00:00Z")
    assert new and v.mountpoint == str(root / "v1" / "_data") and os.path.isdir(v.mountpoint)
    assert s.create("v1", "", {}, {}, "later") == (v, False)
    img = tmp_path / "img" / "etc"
    img.mkdir(parents=True)
    (img / "passwd").write_text("root:x:0:0::/root:/bin/sh\n")
    os.symlink("passwd", img / "link")
    assert s.copy_up("v1", str(tmp_path / "img"), "/etc") is True
    assert (root / "v1" / "_data" / "passwd").read_text().startswith("root:")
    assert os.readlink(root / "v1" / "_data" / "link") == "passwd"
    assert s.copy_up("v1", str(tmp_path / "img"), "/etc") is False   # not empty any more
    (root / "half" / "_data").mkdir(parents=True)   # a create cut short: no metadata
    (root / "foreign" / "_data").mkdir(parents=True)   # data without metadata: not ours
    (root / "foreign" / "_data" / "precious").write_text("x")
    again = VolumeStore(str(root))
    assert set(again.volumes) == {"v1"} and again.get("v1").labels == {"k": "v"}
    assert not (root / "half").exists()
    assert (root / "foreign" / "_data" / "precious").exists()
    assert again.size("v1") > 0
    await again.remove("v1")
    assert not (root / "v1").exists()
    with pytest.raises(NotFound, match="no such volume"):
        again.get("v1")
    with pytest.raises(InvalidParameter, match="flocker"):
        again.create("v2", "flocker", {}, {}, "")
    assert not (root / "v2").exists()


def test_copy_up_never_leaves_the_image_root(tmp_path):
    """An image's absolute or ../ symlinks on the way to the volume's path are
    resolved inside the image, never on the host (a copy-up of the host's files)."""
    root = tmp_path / "img"
    (root / "real" / "inner").mkdir(parents=True)
    (root / "real" / "inner" / "mine").write_text("image's\n")
    secret = tmp_path / "host-secret"
    secret.mkdir()
    (secret / "key").write_text("host's\n")
    os.symlink(str(secret), root / "abs")            # absolute: the host path, inside the image
    os.symlink("../../../../../" + str(secret), root / "dotdot")
    os.symlink("/real", root / "data")               # absolute, to the image's /real
    from boxnet.kernel.volmount import resolve_in_root
    assert resolve_in_root(str(root), "/abs") is None   # <root>/<host path> does not exist
    assert resolve_in_root(str(root), "/dotdot") is None
    assert resolve_in_root(str(root), "/data/inner") == str(root / "real" / "inner")
    os.symlink("loop", root / "loop")
    assert resolve_in_root(str(root), "/loop/x") is None
    s = VolumeStore(str(tmp_path / "volumes"))
    for n, path in (("v-abs", "/abs"), ("v-dd", "/dotdot"), ("v-ok", "/data/inner")):
        s.create(n, "local", {}, {}, "")
        s.copy_up(n, str(root), path)
    assert os.listdir(s.get("v-abs").mountpoint) == []
    assert os.listdir(s.get("v-dd").mountpoint) == []
    assert os.listdir(s.get("v-ok").mountpoint) == ["mine"]


def test_copy_up_keeps_owners_and_setuid_bits(tmp_path):
    """Owners, modes with setuid/setgid (cleared by chown, so set again), symlinks."""
    root = tmp_path / "img"
    (root / "app").mkdir(parents=True)
    tool = root / "app" / "tool"
    tool.write_text("#!/bin/sh\n")
    os.chown(tool, 1234, 5678)
    os.chmod(tool, 0o6755)
    os.chown(root / "app", 1000, 1000)
    os.chmod(root / "app", 0o750)
    s = VolumeStore(str(tmp_path / "volumes"))
    s.create("vs", "local", {}, {}, "")
    assert s.copy_up("vs", str(root), "/app")
    mp = s.get("vs").mountpoint
    st = os.stat(os.path.join(mp, "tool"))
    assert (st.st_uid, st.st_gid, st.st_mode & 0o7777) == (1234, 5678, 0o6755)
    st = os.stat(mp)
    assert (st.st_uid, st.st_gid, st.st_mode & 0o7777) == (1000, 1000, 0o750)


def test_copy_up_keeps_hard_links_fifos_xattrs_and_times(tmp_path):
    root = tmp_path / "img"
    d = root / "d" / "deep"
    d.mkdir(parents=True)
    (d / "a").write_text("x")
    os.link(d / "a", d / "b")
    os.mkfifo(root / "d" / "fifo")
    os.setxattr(d / "a", "user.boxnet", b"kept")
    os.utime(d, (1_000_000, 1_000_000))
    s = VolumeStore(str(tmp_path / "volumes"))
    s.create("vh", "local", {}, {}, "")
    assert s.copy_up("vh", str(root), "/d")
    mp = s.get("vh").mountpoint
    assert os.stat(os.path.join(mp, "deep", "a")).st_ino == \
        os.stat(os.path.join(mp, "deep", "b")).st_ino
    assert os.path.exists(os.path.join(mp, "fifo")) and \
        stat.S_ISFIFO(os.lstat(os.path.join(mp, "fifo")).st_mode)
    assert os.getxattr(os.path.join(mp, "deep", "a"), "user.boxnet") == b"kept"
    assert os.stat(os.path.join(mp, "deep")).st_mtime == 1_000_000
