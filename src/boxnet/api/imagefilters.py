"""`GET /images/json` filters, as dockerd applies them (daemon/images/image_list.go).

Pure: takes the stored images and the parsed `filters`, returns those that pass.
- `dangling=true|false`: untagged images only, or tagged ones only;
- `label=key[=value]` (all must hold);
- `before=` / `since=` an image reference or id: created strictly before / after it;
- `until=` a timestamp or Go duration: created before it;
- `reference=` a pattern matched as Docker's FamiliarMatch: path.Match globbing (`*` and
  `?` do not cross `/`) against each tag's familiar form (`busybox:latest`) and its name
  (`busybox`); several patterns: any may match.
"""

from __future__ import annotations

import re
from typing import Callable, Iterable

from ..errors import InvalidParameter
from ..runtime.imagemeta import _unix
from . import filters as flt

KEYS = {"dangling", "label", "before", "since", "until", "reference"}


def _glob(pattern: str) -> re.Pattern:
    """Go's path.Match as a regex: `*`, `?`, `[...]` that never match `/`."""
    out, i = [], 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "*":
            out.append("[^/]*")
        elif ch == "?":
            out.append("[^/]")
        elif ch == "[":
            end = pattern.find("]", i + 2 if pattern[i + 1:i + 2] in ("^", "!") else i + 1)
            if end < 0:
                raise InvalidParameter(f"invalid reference filter {pattern!r}: syntax error in pattern")
            body = pattern[i + 1:end]
            if body[:1] in ("^", "!"):
                body = "^" + body[1:]
            out.append("[" + body.replace("\\", "\\\\") + "]")
            i = end
        elif ch == "\\" and i + 1 < len(pattern):
            i += 1
            out.append(re.escape(pattern[i]))
        else:
            out.append(re.escape(ch))
        i += 1
    return re.compile("".join(out) + r"\Z")


def _familiar(tag: str) -> tuple[str, str]:
    """("busybox:latest", "busybox") for "docker.io/library/busybox:latest" or "busybox:latest"."""
    name, _, t = tag.rpartition(":")
    if "/" in t:   # a port, not a tag
        name, t = tag, ""
    for prefix in ("docker.io/library/", "docker.io/"):
        if name.startswith(prefix):
            name = name[len(prefix):]
            break
    return (f"{name}:{t}" if t else name), name


def reference_matcher(patterns: list[str]) -> Callable[[Iterable[str]], bool]:
    """A predicate over an image's tags: True when any tag matches any pattern."""
    compiled = [_glob(p) for p in patterns]

    def match(tags: Iterable[str]) -> bool:
        for tag in tags:
            full, name = _familiar(tag)
            if any(rx.match(full) or rx.match(name) for rx in compiled):
                return True
        return False
    return match


def _created(img) -> float:
    return _unix(img.created)


def apply(images: list, raw_filters: str | None, lookup: Callable[[str], object]) -> list:
    """The images passing `raw_filters` (Docker's JSON); `lookup(ref)` finds the
    image a before/since filter names (NotFound propagates as dockerd's 404)."""
    f = flt.parse(raw_filters, KEYS)
    out = list(images)
    if "dangling" in f:
        val = f["dangling"][-1].lower()
        if val not in ("true", "false", "1", "0"):
            raise InvalidParameter(f"invalid filter 'dangling={val}'")
        want = val in ("true", "1")
        out = [i for i in out if (not i.repo_tags) == want]
    if "label" in f:
        out = [i for i in out if flt.match_labels(i.config.Labels, f["label"])]
    for key, keep in (("before", lambda t, ref: t < ref), ("since", lambda t, ref: t > ref)):
        for ref in f.get(key, []):
            at = _created(lookup(ref))
            out = [i for i in out if keep(_created(i), at)]
    for value in f.get("until", []):
        limit = flt.until_ts(value)
        out = [i for i in out if _created(i) < limit]
    if "reference" in f:
        match = reference_matcher(f["reference"])
        out = [i for i in out if match(i.repo_tags)]
    return out
