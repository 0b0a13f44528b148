"""The compose schema's pass cache: a hit skips jsonschema, failures are never cached."""

from __future__ import annotations

import os

import pytest

from boxnet.compose import schema
from boxnet.compose.errors import ComposeError

GOOD = {"services": {"a": {"image": "busybox", "ports": ["8080:80"]}}}
BAD = {"services": {"a": {"image": "busybox", "ports": True}}}


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv("BOXNET_COMPOSE_CACHE", raising=False)
    return tmp_path / "boxnet" / "compose-schema"


def test_pass_is_remembered_and_skips_the_validator(cache, monkeypatch):
    schema.validate(GOOD, "f", {})
    assert len(os.listdir(cache)) == 1
    monkeypatch.setattr(schema, "validator", lambda: pytest.fail("validator used on a hit"))
    schema.validate(GOOD, "f", {})


def test_failures_are_never_cached(cache):
    for _ in range(2):
        with pytest.raises(ComposeError, match="must be a array"):
            schema.validate(BAD, "f", {})
    assert not cache.exists() or not os.listdir(cache)


def test_fingerprint_keeps_types_apart():
    prints = {schema._fingerprint({"a": v}) for v in (1, 1.0, True, "1", None)}
    assert len(prints) == 5


def test_cache_can_be_turned_off(cache, monkeypatch):
    monkeypatch.setenv("BOXNET_COMPOSE_CACHE", "0")
    schema.validate(GOOD, "f", {})
    assert not cache.exists()


def test_cache_is_bounded(cache, monkeypatch):
    monkeypatch.setattr(schema, "CACHE_MAX", 3)
    for i in range(5):
        schema.validate({"services": {f"s{i}": {"image": "busybox"}}}, "f", {})
    assert 1 <= len(os.listdir(cache)) <= 3
