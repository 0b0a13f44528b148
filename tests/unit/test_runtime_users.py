"""runtime/users.py: Docker's (libcontainer's) user resolution rules, and reading
/etc/passwd inside a container root without ever leaving it."""

from __future__ import annotations

import os

import pytest

from boxnet.errors import InvalidParameter
from boxnet.runtime.users import read_in_root, resolve, resolve_in_rootfs

PASSWD = """root:x:0:0:root:/root:/bin/sh
# a comment
app:x:1000:1000:App:/home/app:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
broken line without fields
"""
GROUP = """root:x:0:
wheel:x:10:root,app
staff:x:50:app
app:x:1000:
nogroup:x:65534:
"""


@pytest.mark.parametrize("spec,uid,gid,extra", [
    ("", 0, 0, [10]),                    # root, with root's supplementary groups
    ("root", 0, 0, [10]),
    ("app", 1000, 1000, [10, 50]),       # passwd gid, groups listing app
    ("1000", 1000, 1000, [10, 50]),      # a uid with an entry is that user
    ("4242", 4242, 0, []),               # numeric without entry: gid 0, no groups
    ("4242:4343", 4242, 4343, []),
    ("app:staff", 1000, 50, []),         # explicit group: no supplementary groups
    ("app:0", 1000, 0, []),
    ("nobody", 65534, 65534, []),
    (":50", 0, 50, []),
])
def test_resolve(spec, uid, gid, extra):
    """uid, gid and supplementary gids as docker run --user gives them."""
    u = resolve(spec, [], PASSWD, GROUP)
    assert (u.uid, u.gid, u.additional_gids) == (uid, gid, extra)


def test_group_add_by_name_and_number():
    """--group-add adds to the user's groups, a name from /etc/group, a number as is."""
    u = resolve("app", ["staff", "777", "nogroup"], PASSWD, GROUP)
    assert u.additional_gids == [10, 50, 777, 65534]
    assert resolve("4242", ["wheel"], PASSWD, GROUP).additional_gids == [10]


@pytest.mark.parametrize("spec,groups,message", [
    ("xyz", [], "unable to find user xyz: no matching entries in passwd file"),
    ("app:nogrp", [], "unable to find group nogrp: no matching entries in group file"),
    ("app", ["nogrp"], "unable to find group nogrp"),
    ("app:b:c", [], "invalid user"),
    ("a b", [], "white space"),
    ("4294967296", [], "out of range"),
])
def test_resolve_errors(spec, groups, message):
    """An unknown name or a malformed spec is a 400 with Docker's wording."""
    with pytest.raises(InvalidParameter, match=message):
        resolve(spec, groups, PASSWD, GROUP)


def test_missing_files():
    """No /etc/passwd: numbers work, names do not (Docker's rule)."""
    assert resolve("", [], None, None).uid == 0
    assert resolve("12:34", [], None, None).gid == 34
    with pytest.raises(InvalidParameter, match="unable to find user app"):
        resolve("app", [], None, None)


def _root(tmp_path):
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc/passwd").write_text(PASSWD)
    (root / "etc/group").write_text(GROUP)
    return root


def test_rootfs_symlinks_stay_inside(tmp_path):
    """An absolute or ../ symlink resolves inside the root, never to the host's file."""
    root = _root(tmp_path)
    (tmp_path / "secret").write_text("host secret\n")
    (root / "etc/passwd").unlink()
    os.symlink("../../../../secret", root / "etc/passwd")
    assert read_in_root(str(root), "/etc/passwd") is None
    (root / "secret").write_text("app:x:7:7::/:/bin/sh\n")
    assert resolve_in_rootfs(str(root), "app", []).uid == 7    # the root's /secret
    os.unlink(root / "etc/passwd")
    os.symlink(str(tmp_path / "secret"), root / "etc/passwd")   # absolute: inside too
    assert read_in_root(str(root), "/etc/passwd") is None
    (root / "etc2").symlink_to("/etc")
    assert "staff:x:50:app" in read_in_root(str(root), "/etc2/group")   # /etc of the root
    assert read_in_root(str(root), "/etc/group/../group") is None        # a file is no dir


def test_rootfs_refuses_fifo_loop_and_huge(tmp_path):
    """A FIFO, a symlink loop or a huge file is an error, never a hang or an OOM."""
    root = _root(tmp_path)
    os.unlink(root / "etc/passwd")
    os.mkfifo(root / "etc/passwd")
    with pytest.raises(InvalidParameter, match="not a regular file"):
        resolve_in_rootfs(str(root), "app", [])
    os.unlink(root / "etc/passwd")
    os.symlink("passwd", root / "etc/passwd")
    with pytest.raises(InvalidParameter, match="too many symbolic links"):
        resolve_in_rootfs(str(root), "app", [])
    os.unlink(root / "etc/passwd")
    with open(root / "etc/passwd", "wb") as f:
        f.truncate(9 << 20)
    with pytest.raises(InvalidParameter, match="larger than"):
        resolve_in_rootfs(str(root), "app", [])


def test_rootfs_lookup(tmp_path):
    """resolve_in_rootfs reads the root's own files, through a relative dir symlink too."""
    root = _root(tmp_path)
    u = resolve_in_rootfs(str(root), "app", ["staff"])
    assert (u.uid, u.gid, u.additional_gids) == (1000, 1000, [10, 50])
    os.rename(root / "etc", root / "realetc")
    os.symlink("/realetc", root / "etc")
    assert resolve_in_rootfs(str(root), "nobody", []).uid == 65534


def test_rootfs_device_node_never_opened(tmp_path):
    """A device node planted as /etc/passwd (a container holds CAP_MKNOD) is refused
    (it is looked at through an O_PATH fd, which opens no device): /dev/null's twin
    here, a host disk in an attack."""
    root = _root(tmp_path)
    os.unlink(root / "etc/passwd")
    os.mknod(root / "etc/passwd", 0o600 | 0o020000, os.makedev(1, 3))   # char 1:3
    with pytest.raises(InvalidParameter, match="not a regular file"):
        resolve_in_rootfs(str(root), "app", [])


def test_exec_process_as_another_user():
    """exec -u: the container's process with the exec's command, environment added
    (a name given again replaces it), the user, and capabilities of root only."""
    from boxnet.runtime.bundle import DEFAULT_CAPS, build_config, exec_process
    from boxnet.runtime.api import ProcessSpec
    from boxnet.runtime.users import ExecUser
    spec = ProcessSpec(container_id="c1", rootfs="/x", args=["sleep", "9"], env=["A=1", "B=2"],
                       netns_path="/run/n", no_new_privileges=True)
    base = build_config(spec, "rootfs", False)["process"]
    p = exec_process(base, ["id"], ["B=3", "C=4"], "", True, ExecUser(uid=65534, gid=65534))
    assert p["args"] == ["id"] and p["terminal"] is True and p["cwd"] == "/"
    assert [e for e in p["env"] if e[0] in "ABC"] == ["A=1", "B=3", "C=4"]
    assert p["user"] == {"uid": 65534, "gid": 65534} and p["noNewPrivileges"] is True
    assert p["capabilities"] == {"bounding": DEFAULT_CAPS, "effective": [], "permitted": []}
    root = exec_process(base, ["id"], [], "/tmp", False, ExecUser())
    assert root["capabilities"]["effective"] == DEFAULT_CAPS and root["cwd"] == "/tmp"
