"""Volume: one volume as stored in its metadata file, and its Docker JSON."""

from __future__ import annotations

import msgspec


class Volume(msgspec.Struct, kw_only=True):
    """A volume of the local driver.  `mountpoint` is its `_data` directory."""

    name: str
    driver: str = "local"
    created_at: str = ""
    labels: dict[str, str] = {}
    options: dict[str, str] = {}
    mountpoint: str = ""

    def json(self, usage: tuple[int, int] | None = None) -> dict:
        """Docker's Volume object; UsageData (size, refcount) when `usage` is given."""
        out = {"CreatedAt": self.created_at, "Driver": self.driver,
               "Labels": dict(self.labels), "Mountpoint": self.mountpoint,
               "Name": self.name, "Options": dict(self.options) or None,
               "Scope": "local"}
        if usage is not None:
            out["UsageData"] = {"Size": usage[0], "RefCount": usage[1]}
        return out
