"""MountPoint: one resolved mount of a container (a volume, a bind or a tmpfs),
as recorded at create and shown in inspect's `Mounts`."""

import msgspec


class MountPoint(msgspec.Struct, kw_only=True):
    """A container's mount, resolved at create (names, anonymous volumes).

    type: "volume", "bind" or "tmpfs".  For a volume, `name` is the volume's
    and `source` its mountpoint; `copy` asks for the image's content at
    `destination` to be copied into the volume when it is empty (not with
    nocopy); `anonymous` marks a volume made for this container (removed by
    `rm -v`).  `mode` is the user's mode text as Docker shows it."""

    type: str
    destination: str
    source: str = ""
    name: str = ""
    driver: str = ""
    mode: str = ""
    rw: bool = True
    propagation: str = ""
    copy: bool = True
    anonymous: bool = False
    create_source: bool = False      # bind via -v: a missing source is made at start
    tmpfs_options: list[str] = []    # tmpfs: size=, mode=
