"""GET /images/json filters (api/imagefilters.py) as dockerd applies them."""

import json

import pytest

from boxnet.api import imagefilters
from boxnet.errors import InvalidParameter, NotFound
from boxnet.runtime.imagemeta import Image, ImageConfig

IMAGES = [
    Image(id="sha256:" + "a" * 64, repo_tags=["busybox:latest"], created="2024-01-01T00:00:00Z"),
    Image(id="sha256:" + "b" * 64, repo_tags=["team/web:1.2", "registry.local:5000/team/web:1.2"],
          created="2024-02-01T00:00:00Z", config=ImageConfig(Labels={"tier": "front"})),
    Image(id="sha256:" + "c" * 64, repo_tags=[], created="2024-03-01T00:00:00Z"),
]


def lookup(ref):
    for img in IMAGES:
        if ref in img.repo_tags or img.id.startswith("sha256:" + ref) or img.id == ref:
            return img
    raise NotFound(f"No such image: {ref}")


def ids(filters):
    chosen = imagefilters.apply(IMAGES, json.dumps(filters) if filters else None, lookup)
    return [i.id[7] for i in chosen]


def test_no_filter_lists_all():
    assert ids({}) == ["a", "b", "c"]


@pytest.mark.parametrize("pattern,want", [
    ("busybox", ["a"]), ("busybox:latest", ["a"]), ("busy*", ["a"]), ("alpine", []),
    ("team/*", ["b"]), ("*", ["a"]),   # * does not cross "/" (Go's path.Match)
    ("*/*", ["b"]), ("registry.local:5000/team/web:1.?", ["b"]), ("team/web:1.[0-9]", ["b"]),
])
def test_reference(pattern, want):
    assert ids({"reference": [pattern]}) == want


def test_several_references_any_matches():
    assert ids({"reference": ["busybox", "team/web"]}) == ["a", "b"]


def test_dangling_label_before_since_until():
    assert ids({"dangling": ["true"]}) == ["c"]
    assert ids({"dangling": ["false"]}) == ["a", "b"]
    assert ids({"label": ["tier=front"]}) == ["b"]
    assert ids({"label": ["tier=back"]}) == []
    assert ids({"before": ["team/web:1.2"]}) == ["a"]
    assert ids({"since": ["busybox:latest"]}) == ["b", "c"]
    assert ids({"until": ["2024-02-15T00:00:00Z"]}) == ["a", "b"]


def test_bad_filters_are_refused():
    with pytest.raises(InvalidParameter):
        ids({"colour": ["red"]})
    with pytest.raises(InvalidParameter):
        ids({"dangling": ["maybe"]})
    with pytest.raises(InvalidParameter):
        ids({"reference": ["web[1"]})
    with pytest.raises(NotFound):
        ids({"before": ["nosuch:1"]})
