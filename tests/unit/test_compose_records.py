"""compose/records.py behaves as @dataclass for the model's classes: same __init__
(positional, keywords, defaults, a new list/dict per record, errors), repr and eq."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from boxnet.compose.digest import sha256
from boxnet.compose.model import NetworkSpec, ServiceNetwork
from boxnet.compose.records import factory, record


@record
class R:
    key: str
    name: str = "n"
    opts: dict = factory(dict)

    def upper(self) -> str:
        return self.key.upper()


@dataclass
class D:
    key: str
    name: str = "n"
    opts: dict = field(default_factory=dict)


def test_init_repr_eq_as_a_dataclass():
    for args, kw in (((), {"key": "k"}), (("k",), {}), (("k", "m"), {"opts": {"a": 1}})):
        r, d = R(*args, **kw), D(*args, **kw)
        assert repr(r)[1:] == repr(d)[1:]   # R(...) and D(...)
        assert (r.key, r.name, r.opts) == (d.key, d.name, d.opts)
    assert R("k") == R(key="k") and R("k") != R("j") and R("k") != D("k")
    assert R("k").upper() == "K"


def test_each_record_gets_its_own_defaults():
    a, b = R("a"), R("b")
    a.opts["x"] = 1
    assert b.opts == {} and not hasattr(R, "opts") and R.name == "n"


@pytest.mark.parametrize("args,kw,msg", [((), {}, "missing required argument: 'key'"),
                                         (("k",), {"key": "j"}, "multiple values"),
                                         (("k", "n", {}, 4), {}, "positional arguments"),
                                         ((), {"key": "k", "bad": 1}, "unexpected keyword")])
def test_bad_arguments_are_type_errors(args, kw, msg):
    with pytest.raises(TypeError, match=msg):
        R(*args, **kw)


def test_records_are_unhashable_and_order_is_checked():
    with pytest.raises(TypeError):
        hash(R("k"))
    with pytest.raises(TypeError, match="non-default field"):
        @record
        class Bad:
            a: int = 1
            b: int


def test_the_models_classes():
    sn = ServiceNetwork(key="default")
    assert sn.aliases == [] and sn.priority == 0 and sn == ServiceNetwork("default")
    assert "ServiceNetwork(key='default', aliases=[]" in repr(sn)
    nw = NetworkSpec(key="a", name="p_a", internal=True)
    assert nw.driver_opts == {} and nw.internal and not nw.external


def test_digest_is_sha256():
    import hashlib
    assert sha256(b"abc").hexdigest() == hashlib.sha256(b"abc").hexdigest()
