"""The etcd client waits out a leader election, and fails at once on a store that is down.

Two aiohttp servers on loopback play etcd's JSON gateway: they answer as etcd 3.4's
gateway does while a cluster elects ("etcdserver: leader changed", "no leader").
"""

import asyncio
import socket

import pytest
from aiohttp import web

from boxnet.errors import Unavailable
from boxnet.store import etcd
from boxnet.store.etcd import EtcdClient


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _member(answers: list):
    """A gateway answering the given (status, error) pairs in turn, then a put's success."""
    calls = []

    async def put(_req):
        calls.append(1)
        if answers:
            status, err = answers.pop(0)
            return web.json_response({"error": err, "code": 14, "message": err}, status=status)
        return web.json_response({"header": {"revision": "7"}})

    app = web.Application()
    app.router.add_post("/v3/kv/put", put)
    runner = web.AppRunner(app)
    await runner.setup()
    port = _free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, f"127.0.0.1:{port}", calls


async def _refused(cl: EtcdClient, match: str) -> float:
    """Seconds until ``cl.put`` is refused with Unavailable matching ``match``."""
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    with pytest.raises(Unavailable, match=match):
        await cl.put("k", "v")
    return loop.time() - t0


def test_a_request_waits_out_the_election():
    async def body():
        r1, m1, c1 = await _member([(503, "etcdserver: leader changed")] * 3)
        r2, m2, c2 = await _member([(503, "etcdserver: no leader")] * 3)
        cl = EtcdClient(f"etcd://{m1},{m2}", timeout=2)
        try:
            await cl.put("k", "v")   # succeeds once the "election" is over
            assert len(c1) == 4 and len(c2) == 3
        finally:
            await cl.close()
            await r1.cleanup()
            await r2.cleanup()
    asyncio.run(body())


def test_an_endless_election_fails_after_the_bound(monkeypatch):
    monkeypatch.setattr(etcd, "ELECTION_WAIT", 0.5)

    async def body():
        r1, m1, c1 = await _member([(503, "etcdserver: leader changed")] * 100)
        cl = EtcdClient(f"etcd://{m1}", timeout=2)
        try:
            took = await _refused(cl, "leader changed")
            assert 0.3 < took < 2 and 2 <= len(c1) <= 6
        finally:
            await cl.close()
            await r1.cleanup()
    asyncio.run(body())


def test_a_store_that_is_down_fails_at_once():
    async def body():
        cl = EtcdClient(f"etcd://127.0.0.1:{_free_port()},127.0.0.1:{_free_port()}", timeout=2)
        try:
            assert await _refused(cl, "is unreachable") < 1
        finally:
            await cl.close()
    asyncio.run(body())
