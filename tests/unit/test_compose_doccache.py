"""The parsed-file cache of compose (compose/doccache.py via yaml12.load): a hit gives
the same data and lines without PyYAML's parser; failures and tagged documents are
never stored; a damaged entry is a miss; it can be turned off."""

from __future__ import annotations

import math
import os

import pytest

from boxnet.compose import doccache, yaml12
from boxnet.compose.errors import ComposeError

TEXT = ("services:\n  web:\n    image: busybox\n    ports: ['22:22', 8080]\n"
        "    environment: {A: no, B: 1.0, C: true, D: null, E: '1', F: .nan}\n"
        "  db: {image: busybox}\nx-a: &a {k: 1}\nx-b: *a\n")


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv("BOXNET_COMPOSE_CACHE", raising=False)
    return tmp_path / "boxnet" / "compose-yaml"


def _no_parser(monkeypatch):
    monkeypatch.setattr(yaml12, "_parse", lambda *a: pytest.fail("parsed on a hit"))


def test_a_hit_is_the_same_document_without_the_parser(cache, monkeypatch):
    first = yaml12.load(TEXT, "f")
    assert len(os.listdir(cache)) == 1
    _no_parser(monkeypatch)
    data, lines = yaml12.load(TEXT.encode(), "f")
    assert list(data["services"]) == ["web", "db"]   # order kept
    env = data["services"]["web"]["environment"]
    assert env["A"] == "no" and env["B"] == 1.0 and type(env["B"]) is float
    assert env["C"] is True and env["D"] is None and env["E"] == "1" and math.isnan(env["F"])
    assert data["services"]["web"]["ports"] == ["22:22", 8080]
    assert data["x-b"] == {"k": 1}
    assert lines == first[1] and lines[("services", "db")] == 6
    assert repr(data).replace("nan", "N") == repr(first[0]).replace("nan", "N")


def test_another_text_is_another_entry(cache, monkeypatch):
    yaml12.load(TEXT, "f")
    yaml12.load(TEXT + "y-c: 1\n", "f")
    assert len(os.listdir(cache)) == 2


def test_failures_are_never_stored(cache):
    for _ in range(2):
        with pytest.raises(ComposeError, match="duplicate key"):
            yaml12.load("a: 1\na: 2\n", "f")
    assert not cache.exists() or not os.listdir(cache)


def test_tagged_documents_are_parsed_each_time(cache):
    text = "services:\n  a:\n    ports: !reset []\n"
    data, _ = yaml12.load(text, "f")
    assert isinstance(data["services"]["a"]["ports"], yaml12.Tagged)
    assert not cache.exists() or not os.listdir(cache)
    again, _ = yaml12.load(text, "f")
    assert again["services"]["a"]["ports"].tag == "reset"


def test_a_damaged_entry_is_a_miss(cache, monkeypatch):
    yaml12.load(TEXT, "f")
    (entry,) = cache.iterdir()
    entry.write_bytes(b"\x00garbage")
    data, _ = yaml12.load(TEXT, "f")
    assert data["services"]["db"] == {"image": "busybox"}
    entry.write_bytes(__import__("marshal").dumps(["not", "a", "pair"]))
    assert doccache.get(entry.name) is None


def test_cache_can_be_turned_off(cache, monkeypatch):
    monkeypatch.setenv("BOXNET_COMPOSE_CACHE", "0")
    yaml12.load(TEXT, "f")
    assert not cache.exists()


def test_cache_is_bounded(cache, monkeypatch):
    monkeypatch.setattr(doccache, "CACHE_MAX", 3)
    for i in range(5):
        yaml12.load(f"services:\n  s{i}:\n    image: busybox\n", "f")
    assert 1 <= len(os.listdir(cache)) <= 3


def test_the_key_follows_the_parser_source(cache, monkeypatch):
    k1 = doccache.key(TEXT)
    monkeypatch.setattr(doccache, "_STAMP", [b"another parser"])
    assert doccache.key(TEXT) != k1
