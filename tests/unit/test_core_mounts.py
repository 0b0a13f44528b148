"""core/mounts.py on the in-memory fakes (plain-directory volumes need no root):
Docker's precedence of volumes-from, binds/mounts and anonymous volumes, copy-up of
the image's directory at start, a failed create taking back the volumes it made,
in-use removal refused with force too, `rm -v`, prune, and the OCI mounts a
start hands to the runtime."""

from __future__ import annotations

import os
import shutil

import pytest

from boxnet.core.controller import Controller
from boxnet.core.eventfeed import EventFeed
from boxnet.drivers.host import HostDriver
from boxnet.drivers.null import NullDriver
from boxnet.drivers.registry import DriverRegistry
from boxnet.errors import Conflict, InvalidParameter
from boxnet.model import ContainerConfig
from boxnet.volumes.names import ANONYMOUS_LABEL
from boxnet.volumes import store as store_mod
from boxnet.volumes.store import VolumeStore

from core_fakes import FakePorts, Rig


@pytest.fixture
async def rig(tmp_path, monkeypatch):
    r = Rig(tmp_path, monkeypatch)

    async def rmtree(path):   # no program in unit tests: the store's `rm -rf` in-process
        shutil.rmtree(path, ignore_errors=True)
    monkeypatch.setattr(store_mod, "remove_tree", rmtree)
    drivers = DriverRegistry([r.driver, HostDriver(), NullDriver()])
    r.ctl = Controller(r.config, r.store, r.ipam, drivers, r.firewall, r.runtime, r.images,
                       r.netlink, host_id="f" * 64, dns=lambda ctl: r.dns,
                       ports=lambda ctl: FakePorts(), event_feed=EventFeed(),
                       volumes=VolumeStore(str(tmp_path / "volumes")))
    r.dns.ctl = r.ctl
    await r.ctl.start()
    etc = tmp_path / "rootfs" / "etc"
    etc.mkdir(parents=True)
    (etc / "passwd").write_text("root:x:0:0::/root:/bin/sh\n")
    yield r


async def make(rig, name, cfg=None, hc=None):
    config = ContainerConfig(image="busybox", cmd=["sleep", "1"], raw_config=dict(cfg or {}),
                             raw_host_config=dict(hc or {}))
    return await rig.ctl.create_container(name, config, {})


async def test_precedence_and_anonymous_volumes(rig, tmp_path):
    """volumes-from first, binds and mounts replace it at the same destination,
    Config.Volumes and the image's VOLUME only where nothing is mounted."""
    rig.images.image.config.Volumes = {"/etc": {}, "/data": {}}
    a = await make(rig, "ca", hc={"Binds": ["shared:/data", "/srv/a:/srv"]})
    host_dir = tmp_path / "hostdir"
    host_dir.mkdir()
    b = await make(rig, "cb", cfg={"Volumes": {"/x": {}}}, hc={
        "VolumesFrom": ["ca:ro"],
        "Mounts": [{"Type": "bind", "Source": str(host_dir), "Target": "/srv"}]})
    by = {m.destination: m for m in b.mounts}
    assert [m.destination for m in b.mounts] == ["/data", "/etc", "/srv", "/x"]
    assert (by["/data"].name, by["/data"].rw, by["/data"].copy) == ("shared", False, False)
    assert by["/srv"].type == "bind" and by["/srv"].source == str(host_dir)
    # the image's /etc of cb is mounted already: ca's anonymous volume, by volumes-from
    assert by["/x"].anonymous and not by["/etc"].anonymous and by["/etc"].name == \
        {m.destination: m for m in a.mounts}["/etc"].name
    vols = rig.ctl.volumes.volumes
    assert ANONYMOUS_LABEL in vols[by["/x"].name].labels and "shared" in vols


async def test_start_copies_up_and_hands_oci_mounts(rig):
    c = await make(rig, "cc", hc={"Binds": ["etcv:/etc", "emptyv:/mnt:nocopy,ro"],
                                 "Tmpfs": {"/run": "size=1m"}})
    specs = await rig.ctl.mount_specs(c, rig.images.image.rootfs)
    assert [m["destination"] for m in specs] == ["/etc", "/mnt", "/run"]
    assert specs[1]["options"] == ["rbind", "rprivate", "ro"]
    assert specs[2]["type"] == "tmpfs" and "size=1m" in specs[2]["options"]
    vols = rig.ctl.volumes
    assert os.listdir(vols.get("etcv").mountpoint) == ["passwd"]
    assert os.listdir(vols.get("emptyv").mountpoint) == []


async def test_failed_create_takes_back_its_volumes(rig):
    with pytest.raises(InvalidParameter, match="ext4"):
        await make(rig, "half", hc={"Binds": ["half1:/a"], "Mounts": [
            {"Type": "volume", "Source": "half2", "Target": "/b",
             "VolumeOptions": {"DriverConfig": {"Options": {"type": "ext4"}}}}]})
    assert rig.ctl.volumes.volumes == {} and "half" not in rig.ctl.cont_by_name
    with pytest.raises(InvalidParameter, match="bind source path does not exist"):
        await make(rig, "nob", hc={"Binds": ["kept:/k"], "Mounts": [
            {"Type": "bind", "Source": "/no/such/dir", "Target": "/b"}]})
    assert rig.ctl.volumes.volumes == {}


async def test_in_use_rm_v_and_prune(rig):
    c = await make(rig, "cc", cfg={"Volumes": {"/anon": {}}}, hc={"Binds": ["named:/n"]})
    anon = next(m.name for m in c.mounts if m.anonymous)
    for force in (False, True):
        with pytest.raises(Conflict, match="volume is in use"):
            await rig.ctl.remove_volume("named", force=force)
    assert await rig.ctl.prune_volumes({"all": ["true"]}) == ([], 0)
    await rig.ctl.remove_container(c.id, volumes=True)
    assert set(rig.ctl.volumes.volumes) == {"named"}
    rig.ctl.create_volume("", labels={"k": "v"})    # no name: random, anonymous
    assert len(rig.ctl.list_volumes({"dangling": ["true"]})) == 2
    gone, _ = await rig.ctl.prune_volumes({})
    assert len(gone) == 1 and set(rig.ctl.volumes.volumes) == {"named"}
    await rig.ctl.remove_volume("named")
    await rig.ctl.remove_volume("named", force=True)   # gone already: no error with force
    usage = await rig.ctl.volumes_usage()
    assert usage == []


async def test_usage_data_for_system_df(rig):
    """volumes_usage: Docker's Volume objects with UsageData {Size, RefCount}."""
    c = await make(rig, "cu", hc={"Binds": ["sized:/s"]})
    with open(os.path.join(rig.ctl.volumes.get("sized").mountpoint, "f"), "wb") as f:
        f.write(b"x" * 1000)
    rig.ctl.create_volume("idle")
    usage = {v["Name"]: v["UsageData"] for v in await rig.ctl.volumes_usage()}
    assert usage == {"sized": {"Size": 1000, "RefCount": 1}, "idle": {"Size": 0, "RefCount": 0}}
    await rig.ctl.remove_container(c.id)


async def test_two_starts_on_one_new_volume_copy_up_once(rig, monkeypatch):
    """Two containers started together on one new volume: one copy-up, no error."""
    import asyncio
    from boxnet.kernel import volmount
    calls = []
    real = volmount.copy_up

    def slow_copy(src, dst):
        calls.append(dst)
        import time
        time.sleep(0.05)   # in its worker thread: the other start runs meanwhile
        return real(src, dst)
    monkeypatch.setattr(volmount, "copy_up", slow_copy)
    a = await make(rig, "p1", hc={"Binds": ["both:/etc"]})
    b = await make(rig, "p2", hc={"Binds": ["both:/etc"]})
    await asyncio.gather(rig.ctl.mount_specs(a, rig.images.image.rootfs),
                         rig.ctl.mount_specs(b, rig.images.image.rootfs))
    assert len(calls) == 1
    assert os.listdir(rig.ctl.volumes.get("both").mountpoint) == ["passwd"]


async def test_an_exit_keeps_the_mount_a_starting_container_holds(rig, monkeypatch):
    """One container exits while another on the same tmpfs volume is starting: the
    volume stays mounted (the starting one holds it); the last one out unmounts it."""
    vols = rig.ctl.volumes
    mounted, unmounted = [], []
    monkeypatch.setattr(vols, "activate", lambda name: mounted.append(name) or
                        vols.get(name).mountpoint)
    monkeypatch.setattr(vols, "deactivate", lambda name: unmounted.append(name))
    a = await make(rig, "h1", hc={"Binds": ["shared-t:/t"]})
    b = await make(rig, "h2", hc={"Binds": ["shared-t:/t"]})
    await rig.ctl.mount_specs(a, rig.images.image.rootfs)   # a runs
    await rig.ctl.mount_specs(b, rig.images.image.rootfs)   # b is starting (not running yet)
    rig.ctl.release_mounts(a)                               # a exits
    assert unmounted == []
    rig.ctl.release_mounts(b)
    assert unmounted == ["shared-t"]
