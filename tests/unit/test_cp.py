"""`docker cp`'s filesystem side on a directory standing for a container's root
(runtime/cp.py): containment of crafted archives, Docker's naming rules, the
stat header's fields, symlinks kept as symlinks.  Needs openat2 (Linux >= 5.6)."""

from __future__ import annotations

import base64
import io
import json
import os
import tarfile

import pytest

from boxnet.errors import InvalidParameter, NotFound
from boxnet.kernel import inroot
from boxnet.runtime import cp, cppath
from boxnet.runtime.cppath import ContainerFs, Mount

pytestmark = pytest.mark.skipif(not inroot.available(), reason="no openat2 on this kernel")


def _tar(*members) -> io.BytesIO:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        for name, kind, data in members:
            ti = tarfile.TarInfo(name)
            if kind == "file":
                ti.size = len(data)
                t.addfile(ti, io.BytesIO(data))
            elif kind == "dir":
                ti.type, ti.mode = tarfile.DIRTYPE, 0o755
                t.addfile(ti)
            elif kind == "sym":
                ti.type, ti.linkname = tarfile.SYMTYPE, data
                t.addfile(ti)
            elif kind == "link":
                ti.type, ti.linkname = tarfile.LNKTYPE, data
                t.addfile(ti)
    buf.seek(0)
    return buf


@pytest.fixture
def world(tmp_path):
    root = tmp_path / "root"
    outside = tmp_path / "outside"
    (root / "etc").mkdir(parents=True)
    (root / "tmp").mkdir()
    outside.mkdir()
    (root / "etc" / "passwd").write_text("root:x:0:0::/root:/bin/sh\n")
    return root, outside


def _all_files(path) -> set[str]:
    return {os.path.relpath(os.path.join(d, f), path) for d, ds, fs in os.walk(path)
            for f in fs + ds}


def test_crafted_archive_never_writes_outside_the_root(world):
    root, outside = world
    before = _all_files(outside)
    fs = ContainerFs(str(root))
    # an absolute member lands inside; a symlink to "/" and to the outside dir's
    # host path are followed inside the root only
    cp.put(fs, "/tmp", _tar(("/abs", "file", b"a"), ("up", "sym", "/"),
                            ("up/etc/evil", "file", b"e"),
                            ("deep", "sym", "/tmp/up/../../../.."),
                            ("deep/escaped", "file", b"d")), True, None)
    assert (root / "tmp" / "abs").read_bytes() == b"a"
    assert (root / "etc" / "evil").read_bytes() == b"e"
    assert os.readlink(root / "tmp" / "up") == "/"
    # a link to the outside dir's host path: dangling inside the root, so refused
    with pytest.raises(InvalidParameter):
        cp.put(fs, "/tmp", _tar(("host", "sym", str(outside)),
                                ("host/planted", "file", b"p")), True, None)
    (root / str(outside).lstrip("/")).mkdir(parents=True)
    cp.put(fs, "/tmp", _tar(("host/planted", "file", b"p")), True, None)
    assert (root / str(outside).lstrip("/") / "planted").read_bytes() == b"p"
    assert (root / "escaped").read_bytes() == b"d"
    assert _all_files(outside) == before
    for bad in ([("../x", "file", b"x")], [("a/../../x", "file", b"x")],
                [("rel", "sym", "../../../etc"), ]):
        with pytest.raises(InvalidParameter):
            cp.put(fs, "/tmp", _tar(*bad), True, None)
    assert not (root.parent / "x").exists()
    with pytest.raises(InvalidParameter, match="hard link|outside"):
        cp.put(fs, "/tmp", _tar(("hl", "link", "../../etc/passwd")), True, None)
    assert _all_files(outside) == before


def test_a_symlinked_destination_resolves_in_the_root(world, tmp_path):
    root, outside = world
    os.symlink(str(outside), root / "tmp" / "out")    # planted by the container
    (root / str(outside).lstrip("/")).mkdir(parents=True)
    cp.put(ContainerFs(str(root)), "/tmp/out", _tar(("f", "file", b"1")), True, None)
    assert not (outside / "f").exists()
    assert (root / str(outside).lstrip("/") / "f").read_bytes() == b"1"


def test_no_overwrite_dir_non_dir(world):
    root, _ = world
    fs = ContainerFs(str(root))
    with pytest.raises(InvalidParameter, match="cannot overwrite directory"):
        cp.put(fs, "/", _tar(("etc", "file", b"x")), True, None)
    assert (root / "etc").is_dir()
    cp.put(fs, "/", _tar(("etc/passwd", "file", b"new")), True, None)
    assert (root / "etc" / "passwd").read_bytes() == b"new"


def test_put_over_existing_entries_replaces_merges_or_refuses(world):
    """Members land on names already there: a file, a symlink (replaced, its
    target untouched), a directory (merged, its other files kept); with
    noOverwriteDirNonDir a file where a directory member goes is refused."""
    root, _ = world
    fs = ContainerFs(str(root))
    t = root / "tmp"
    (t / "f").write_bytes(b"old")
    os.symlink("/etc/passwd", t / "viaLink")
    (t / "d").mkdir()
    (t / "d" / "keep").write_bytes(b"k")
    (t / "wasfile").write_bytes(b"x")
    (t / "wasdir").mkdir()
    (t / "wasdir" / "inner").write_bytes(b"i")
    cp.put(fs, "/tmp", _tar(("f", "file", b"new"), ("viaLink", "file", b"plain"),
                            ("d", "dir", b""), ("d/added", "file", b"a"),
                            ("wasfile", "dir", b""), ("wasdir", "sym", "f")), False, None)
    assert (t / "f").read_bytes() == b"new"
    assert not (t / "viaLink").is_symlink() and (t / "viaLink").read_bytes() == b"plain"
    assert (root / "etc" / "passwd").read_text().startswith("root:")
    assert {p.name for p in (t / "d").iterdir()} == {"keep", "added"}
    assert (t / "wasfile").is_dir()
    assert os.readlink(t / "wasdir") == "f"
    (t / "again").write_bytes(b"x")
    with pytest.raises(InvalidParameter, match="cannot overwrite non-directory"):
        cp.put(fs, "/tmp", _tar(("again", "dir", b"")), True, None)
    assert (t / "again").read_bytes() == b"x"


def test_put_needs_an_existing_directory(world):
    fs = ContainerFs(str(world[0]))
    with pytest.raises(NotFound):
        cp.put(fs, "/nope", _tar(("f", "file", b"")), True, None)
    with pytest.raises(InvalidParameter, match="not a directory"):
        cp.put(fs, "/etc/passwd", _tar(("f", "file", b"")), True, None)


def _names(fs, path) -> tuple[dict, list[tarfile.TarInfo]]:
    doc, write = cp.prepare_get(fs, path)
    chunks = []
    write(chunks.append)
    with tarfile.open(fileobj=io.BytesIO(b"".join(chunks))) as t:
        return doc, t.getmembers()


def test_get_names_and_symlinks(world):
    root, _ = world
    (root / "etc" / "sub").mkdir()
    (root / "etc" / "sub" / "f").write_bytes(b"x" * 3)
    os.chmod(root / "etc" / "sub" / "f", 0o4755)
    os.symlink("../passwd", root / "etc" / "sub" / "link")
    os.symlink("/etc", root / "etclink")
    fs = ContainerFs(str(root))
    doc, ms = _names(fs, "/etc/sub")
    assert [m.name for m in ms] == ["sub", "sub/f", "sub/link"]
    assert ms[2].issym() and ms[2].linkname == "../passwd"
    assert ms[1].mode == 0o4755
    assert doc["name"] == "sub" and doc["mode"] == (1 << 31) | 0o755
    doc, ms = _names(fs, "/etc/sub/.")
    assert [m.name for m in ms] == [".", "./f", "./link"]
    doc, ms = _names(fs, "/etclink")       # the link itself
    assert [m.name for m in ms] == ["etclink"] and ms[0].issym()
    assert doc["linkTarget"] == "/etc" and doc["mode"] & (1 << 27)
    doc, ms = _names(fs, "/etclink/")      # followed
    assert ms[0].name == "etclink" and ms[0].isdir() and "etclink/passwd" in {m.name for m in ms}
    with pytest.raises(NotFound):
        cp.stat_path(fs, "/missing")


def test_stat_header_is_base64_json():
    doc = {"name": "a", "size": 1, "mode": 420, "mtime": "2024-01-01T00:00:00Z",
           "linkTarget": ""}
    assert json.loads(base64.b64decode(cppath.stat_header(doc))) == doc


def test_mounts_of_a_stopped_container(world, tmp_path):
    root, _ = world
    vol = tmp_path / "vol"
    vol.mkdir()
    (root / "data").mkdir()
    fs = ContainerFs(str(root), [Mount("/data", str(vol))])
    cp.put(fs, "/data", _tar(("f", "file", b"v")), True, None)
    assert (vol / "f").read_bytes() == b"v" and not (root / "data" / "f").exists()
    assert cp.stat_path(fs, "/data/f")["size"] == 1
    ro = ContainerFs(str(root), [Mount("/data", str(vol), rw=False)])
    with pytest.raises(Exception, match="read-only"):
        cp.put(ro, "/data", _tar(("g", "file", b"v")), True, None)


def test_extraction_from_a_pipe_moves_data_with_splice(world):
    """The worker's path: a plain tar on a pipe (FdBody, splice), with padding,
    an empty file, a hard link and a symlink; a gzip one through the stream reader."""
    import gzip
    import threading
    root, outside = world
    data = os.urandom(70_001)
    raw = _tar(("d", "dir", b""), ("d/big", "file", data), ("d/empty", "file", b""),
               ("d/hl", "link", "d/big"), ("d/sl", "sym", "big"),
               ("../x", "file", b"no")).getvalue()
    for body, name in ((raw, "plain"), (gzip.compress(raw), "gzip")):
        r, w = os.pipe()
        t = threading.Thread(target=lambda b=body: (os.write(w, b) if len(b) < 65536 else
                                                    _feed(w, b), os.close(w)))
        t.start()
        (root / "tmp" / name).mkdir()
        with pytest.raises(InvalidParameter, match="outside"):
            cp.put(ContainerFs(str(root)), f"/tmp/{name}", os.fdopen(r, "rb", buffering=0),
                   True, None)
        t.join()
        d = root / "tmp" / name / "d"
        assert (d / "big").read_bytes() == data and (d / "empty").read_bytes() == b""
        assert os.stat(d / "hl").st_ino == os.stat(d / "big").st_ino
        assert os.readlink(d / "sl") == "big"
    assert not (root / "tmp" / "x").exists()


def _feed(fd, data):
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view[:65536]):]
