"""volumes/spec.py and volumes/names.py: container mount specs and volume names,
decided without I/O (Docker's parsing rules and messages)."""

from __future__ import annotations

import pytest

from boxnet.errors import InvalidParameter
from boxnet.volumes import spec
from boxnet.volumes.names import anonymous_name, validate_name


@pytest.mark.parametrize("name", ["ab", "a1", "my_vol.2-x", "0" * 64])
def test_good_names(name):
    assert validate_name(name) == name


@pytest.mark.parametrize("name", ["", "a", "-a", "_a", ".a", "a/b", "a:b", "a b", "é1", "a\n"])
def test_bad_names(name):
    with pytest.raises(InvalidParameter, match="invalid characters"):
        validate_name(name)


def test_anonymous_names_are_64_hex():
    a, b = anonymous_name(), anonymous_name()
    assert a != b and len(a) == 64 and int(a, 16) >= 0


def test_bind_entries():
    """-v: a host path is a bind (made if missing at start), a name a volume; modes."""
    b = spec.parse_bind("/srv/x/:/data:ro,rshared").point
    assert (b.type, b.source, b.destination, b.rw, b.propagation, b.create_source) == \
        ("bind", "/srv/x", "/data", False, "rshared", True)
    v = spec.parse_bind("vol:/data:nocopy").point
    assert (v.type, v.name, v.rw, v.copy, v.mode) == ("volume", "vol", True, False, "nocopy")
    assert spec.parse_bind("vol:/data").point.mode == "z"
    assert spec.parse_bind("/src:/app:cached").point.rw   # compose files from macOS set-ups
    assert not spec.parse_bind("/src:/app:ro,delegated").point.rw
    anon = spec.parse_bind("/only").point
    assert anon.type == "volume" and anon.anonymous and not anon.name


@pytest.mark.parametrize("entry,words", [
    ("vol:rel", "must be absolute"), ("vol:/", "can't be '/'"), ("/a:/b:nocopy", "invalid mode"),
    ("vol:/b:rshared", "invalid mode"), ("vol:/b:ro,rw", "invalid mode"), ("a:b:c:d", "invalid"),
    ("x/y:/b", "invalid characters"), (":/b", "invalid volume specification")])
def test_bad_bind_entries(entry, words):
    with pytest.raises(InvalidParameter, match=words):
        spec.parse_bind(entry)


def test_mount_entries():
    """--mount: volume (anonymous without Source, NoCopy, driver options, labels),
    bind (propagation, CreateMountpoint), tmpfs (size, mode in octal, ro)."""
    r = spec.parse_mount({"Type": "volume", "Source": "vv", "Target": "/d", "ReadOnly": True,
                          "VolumeOptions": {"NoCopy": True, "Labels": {"a": "b"},
                                            "DriverConfig": {"Name": "local",
                                                             "Options": {"type": "tmpfs"}}}})
    assert (r.point.name, r.point.rw, r.point.copy, r.labels, r.driver_opts) == \
        ("vv", False, False, {"a": "b"}, {"type": "tmpfs"})
    assert spec.parse_mount({"Type": "volume", "Target": "/d"}).point.anonymous
    b = spec.parse_mount({"Type": "bind", "Source": "/s", "Target": "/d",
                          "BindOptions": {"Propagation": "rslave"}}).point
    assert (b.propagation, b.create_source) == ("rslave", False)
    t = spec.parse_mount({"Type": "tmpfs", "Target": "/t", "ReadOnly": True,
                          "TmpfsOptions": {"SizeBytes": 1 << 20, "Mode": 0o1770}}).point
    assert t.tmpfs_options == ["size=1048576", "mode=1770", "ro"]


@pytest.mark.parametrize("m,words", [
    ({"Type": "bind", "Target": "/d"}, "Source must not be empty"),
    ({"Type": "bind", "Source": "/s", "Target": "/d", "VolumeOptions": {"NoCopy": True}},
     "VolumeOptions must not be specified"),
    ({"Type": "volume", "Source": "v", "Target": "/d",
      "VolumeOptions": {"DriverConfig": {"Name": "nfsplugin"}}}, "nfsplugin"),
    ({"Type": "tmpfs", "Source": "x", "Target": "/d"}, "Source must not be specified"),
    ({"Type": "tmpfs", "Target": "/d", "TmpfsOptions": {"Mode": 0o17777}}, "Mode"),
    ({"Type": "image", "Source": "busybox", "Target": "/d"}, '"image" is not supported'),
    ({"Type": "volume", "Source": "v"}, "Target"),
    ({"Type": "bind", "Source": "/s", "Target": "/d", "BindOptions": {"Propagation": "x"}},
     "propagation"),
])
def test_bad_mounts(m, words):
    with pytest.raises(InvalidParameter, match=words):
        spec.parse_mount(m)


def test_requested_refuses_duplicates_and_checks_the_rest():
    reqs, anon, vf = spec.requested({"Volumes": {"/a/": {}}}, {
        "Binds": ["vv:/x"], "Mounts": [{"Type": "tmpfs", "Target": "/y"}],
        "VolumesFrom": ["other:ro"]})
    assert [r.point.destination for r in reqs] == ["/x", "/y"] and anon == ["/a"]
    assert vf == ["other:ro"]
    with pytest.raises(InvalidParameter, match="Duplicate mount point: /x"):
        spec.requested({}, {"Binds": ["vv:/x"], "Mounts": [{"Type": "volume", "Target": "/x/"}]})
    with pytest.raises(InvalidParameter, match="volumes-from"):
        spec.requested({}, {"VolumesFrom": ["c:rx"]})


def test_tmpfs_options_merge_as_docker():
    """Defaults noexec,nosuid,nodev,rprivate; the user's flags replace their opposites,
    a key=value its key (moby MergeTmpfsOptions)."""
    assert spec.tmpfs_options([]) == ["noexec", "nosuid", "nodev", "rprivate"]
    assert spec.tmpfs_options(["exec", "size=1m", "size=2m", "rshared"]) == \
        ["nosuid", "nodev", "exec", "size=2m", "rshared"]
    assert spec.tmpfs_entries({"Tmpfs": {"/run/": "size=4m,mode=700"}}) == \
        [("/run", ["size=4m", "mode=700"])]
    with pytest.raises(InvalidParameter, match="Tmpfs"):
        spec.tmpfs_entries({"Tmpfs": {"/run": 5}})
