"""The container's /etc files are rewritten in place: same inode (the bind mount inside
the container sees the change), exact new content whether it grows or shrinks."""

import os

from boxnet.core.sandbox import _write_in_place


def test_rewrite_keeps_inode_and_exact_content(tmp_path):
    path = str(tmp_path / "hosts")
    _write_in_place(path, "127.0.0.1\tlocalhost\n")
    ino = os.stat(path).st_ino
    long_text = "127.0.0.1\tlocalhost\n" + "".join(f"10.0.0.{i}\tc{i}\n" for i in range(50))
    _write_in_place(path, long_text)
    assert open(path).read() == long_text
    _write_in_place(path, "10.0.0.9\tshort\n")          # shorter: no tail of the old text
    assert open(path).read() == "10.0.0.9\tshort\n"
    assert os.stat(path).st_ino == ino
