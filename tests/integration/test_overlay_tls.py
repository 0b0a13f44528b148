"""Overlay networks with etcd over TLS (issue 9): dockerd's kv.* store options.

A throwaway CA, an etcd server certificate (IP SAN = etcd's underlay
address) and a client certificate are made with the ``openssl`` CLI; Debian's
etcd serves https with --client-cert-auth; two hosts join with
``--cluster-store etcd://IP:2379 --cluster-store-opt kv.cacertfile=..,
kv.certfile=..,kv.keyfile=..`` and their containers ping across hosts.  A
wrong CA and a missing client certificate fail boxnetd's start with a
message naming the TLS problem.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from integration.harness import CREATED_DIRS, STARTED_PIDS, TMP_BASE, TestHost, run
from integration.multihost import ETCD_PORT, PEER_PORT, SUBNET, Cluster, EtcdNode, Underlay, \
    wait_for
from integration.test_overlay import _need_etcd, ping, run_on

pytestmark = pytest.mark.kernel
TTL = 4


def openssl(*args: str, cwd: Path) -> None:
    """Run the openssl CLI in ``cwd``; AssertionError with its output on failure."""
    r = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, f"openssl {args}: {r.stderr}"


def make_ca(d, name: str) -> None:
    """A self-signed EC CA: ``name``.pem / ``name``.key in ``d``."""
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.pem", "-days", "2",
            "-subj", f"/CN={name}", cwd=d)


def make_cert(d, name: str, ca: str, usage: str, san: str = "") -> None:
    """``name``.pem/.key in ``d`` signed by CA ``ca``, for ``usage`` (extendedKeyUsage)."""
    ext = ["basicConstraints=CA:FALSE", "keyUsage=digitalSignature,keyEncipherment",
           f"extendedKeyUsage={usage}"] + ([f"subjectAltName={san}"] if san else [])
    (d / f"{name}.ext").write_text("\n".join(ext) + "\n")
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}", cwd=d)
    openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key",
            "-CAcreateserial", "-out", f"{name}.pem", "-days", "2", "-extfile", f"{name}.ext",
            cwd=d)


class TlsEtcdNode(EtcdNode):
    """etcd serving its client port over https, requiring client certificates."""

    def __init__(self, underlay: Underlay, pki, index: int = 0, server: str = "server") -> None:
        """A one-member cluster at .2+index; ``pki`` holds ca.pem and ``server``.pem/.key."""
        super().__init__(underlay, index, {f"n{index}": f"{SUBNET}.{2 + index}"})
        self.pki, self.server = pki, server

    def start(self) -> None:
        """Start etcd with TLS on the client URL (the peer URL stays plain: one member)."""
        p = self.pki
        argv = ["nsenter", f"--net={self.netns}", "etcd", "--name", self.name,
                "--data-dir", str(self.dir / "data"),
                "--listen-client-urls", f"https://{self.ip}:{ETCD_PORT}",
                "--advertise-client-urls", f"https://{self.ip}:{ETCD_PORT}",
                "--listen-peer-urls", f"http://{self.ip}:{PEER_PORT}",
                "--initial-advertise-peer-urls", f"http://{self.ip}:{PEER_PORT}",
                "--initial-cluster", f"{self.name}=http://{self.ip}:{PEER_PORT}",
                "--cert-file", str(p / f"{self.server}.pem"),
                "--key-file", str(p / f"{self.server}.key"),
                "--trusted-ca-file", str(p / "ca.pem"), "--client-cert-auth"]
        log = open(self.dir / "etcd.log", "ab")
        self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        log.close()
        STARTED_PIDS.add(self.proc.pid)
        self.started_once = True

    def etcdctl(self, *args: str, check: bool = True):
        """etcdctl over TLS with the client certificate."""
        p = self.pki
        return run(["nsenter", f"--net={self.netns}", "etcdctl", "--endpoints",
                    f"https://{self.endpoint}", "--cacert", str(p / "ca.pem"),
                    "--cert", str(p / "client.pem"), "--key", str(p / "client.key"),
                    "--command-timeout=2s", *args], check=check)

    def wait_ready(self, timeout: float = 20) -> None:
        """Until a TLS read answers."""
        wait_for(lambda: self.etcdctl("get", "x", check=False).returncode == 0,
                 timeout=timeout, interval=0.2, what=f"etcd over TLS\n{self.log_tail()}")


class TlsCluster(Cluster):
    """Cluster's teardown and flags, with a TLS etcd and TLS store options."""

    def __init__(self, hosts: int = 2) -> None:  # noqa: super().__init__ builds plain etcd
        """PKI, underlay, etcd, then ``hosts`` boxnetds with the TLS options."""
        self.ttl = TTL
        self.hosts, self.etcd = [], []
        self.pki = Path(tempfile.mkdtemp(prefix="bxt-pki-", dir=TMP_BASE))
        CREATED_DIRS.add(self.pki)
        self.underlay = Underlay()
        try:
            make_ca(self.pki, "ca")
            make_ca(self.pki, "other-ca")
            # clientAuth too: etcd 3.4's JSON gateway dials its own gRPC port with it
            make_cert(self.pki, "server", "ca", "serverAuth,clientAuth", f"IP:{SUBNET}.2")
            make_cert(self.pki, "client", "ca", "clientAuth")
            self.etcd.append(TlsEtcdNode(self.underlay, self.pki))
            self.etcd[0].start()
            self.etcd[0].wait_ready()
            for i in range(hosts):  # both spellings of the options (dockerd takes each)
                self.add_host(self.tls_opts(one_flag=i % 2 == 0))
        except BaseException:
            self.teardown()
            raise

    def tls_opts(self, ca: str = "ca", cert: str | None = "client",
                 one_flag: bool = True) -> list[str]:
        """--cluster-store-opt values for TLS: one comma-separated flag, or one per option."""
        opts = [f"kv.cacertfile={self.pki / (ca + '.pem')}"]
        if cert:
            opts += [f"kv.certfile={self.pki / (cert + '.pem')}",
                     f"kv.keyfile={self.pki / (cert + '.key')}"]
        if one_flag:
            return ["--cluster-store-opt", ",".join(opts)]
        return [x for o in opts for x in ("--cluster-store-opt", o)]

    def add_host(self, tls: list[str], start: bool = True) -> TestHost:
        """One more host on the underlay (started with ``tls`` store options)."""
        h = TestHost()
        h.underlay_ip = f"{SUBNET}.{10 + len(self.hosts)}"
        self.underlay.plug(h.name, h.underlay_ip)
        self.hosts.append(h)
        if start:
            h.start(*self.flags(h), *tls)
        return h

    def teardown(self) -> list[str]:
        """Hosts, etcd, underlay, PKI dir."""
        problems = super().teardown()
        shutil.rmtree(self.pki, ignore_errors=True)
        return problems


@pytest.fixture(scope="module")
def tls():
    """Two hosts on a TLS etcd."""
    _need_etcd()
    c = TlsCluster(hosts=2)
    yield c
    problems = c.teardown()
    assert not problems, problems


def test_overlay_over_tls_etcd(tls):
    a, b = tls.hosts[:2]
    a.cli("network", "create", "-d", "overlay", "--attachable", "ovt")
    wait_for(lambda: b.api("GET", "/networks/ovt")[0] == 200, what="ovt on b")
    ip1, ip2 = run_on(a, "t1", "ovt"), run_on(b, "t2", "ovt")
    assert ping(a, "t1", ip2) and ping(b, "t2", ip1)
    wait_for(lambda: a.exec("t1", "nslookup", "t2", "127.0.0.11").returncode == 0,
             timeout=10, what="t2 in DNS on a")
    keys = tls.etcd[0].etcdctl("get", "--prefix", "/boxnet/netnames/", "--keys-only").stdout
    assert "/boxnet/netnames/ovt" in keys.split()
    # the watch stream works over TLS too: a removal on b is seen by a
    b.cli("rm", "-f", "t2")
    nid = a.network("ovt")["Id"]
    wait_for(lambda: " dst " not in a.sh(f"bridge fdb show dev vx-{nid[:12]}",
                                        check=False).stdout, what="t2's FDB entry gone on a")


def _start_fails(h: TestHost, flags: list[str]) -> str:
    with pytest.raises(AssertionError) as exc:
        h.start(*flags, timeout=20)
    return str(exc.value)


def test_wrong_ca_fails_the_start_clearly(tls):
    h = tls.add_host(tls.tls_opts(ca="other-ca"), start=False)
    msg = _start_fails(h, [*tls.flags(h), *tls.tls_opts(ca="other-ca")])
    assert "cannot join the cluster" in msg and "TLS" in msg and "not trusted" in msg, msg
    assert "other-ca.pem" in msg


def test_missing_client_certificate_fails_the_start_clearly(tls):
    h = tls.add_host([], start=False)
    msg = _start_fails(h, [*tls.flags(h), *tls.tls_opts(cert=None)])
    assert "requires a client certificate" in msg and "kv.certfile" in msg, msg


def test_client_certificate_of_another_ca_is_named(tls):
    make_cert(tls.pki, "stranger", "other-ca", "clientAuth")
    h = tls.add_host([], start=False)
    msg = _start_fails(h, [*tls.flags(h), *tls.tls_opts(cert="stranger")])
    assert "rejected this host's client certificate" in msg and "stranger.pem" in msg, msg


def test_plain_http_to_a_tls_etcd_gets_a_hint(tls):
    h = tls.add_host([], start=False)
    msg = _start_fails(h, tls.flags(h))
    assert "kv.cacertfile" in msg, msg


def test_server_certificate_without_client_auth_is_explained(tls):
    """etcd 3.4's JSON gateway presents etcd's own certificate to its gRPC port:
    without clientAuth in it every request is a 503 "connection closed"."""
    make_cert(tls.pki, "server-only", "ca", "serverAuth", f"IP:{SUBNET}.3")
    node = TlsEtcdNode(tls.underlay, tls.pki, index=1, server="server-only")
    tls.etcd.append(node)   # torn down with the cluster
    node.start()
    wait_for(lambda: "serving client requests" in node.log_tail(200), what="etcd n1 up")
    h = tls.add_host([], start=False)
    flags = ["--cluster-store", f"etcd://{node.endpoint}", "--cluster-advertise", h.underlay_ip,
             *tls.tls_opts()]
    msg = _start_fails(h, flags)
    assert "clientAuth" in msg and ("connection closed" in msg or "client preface" in msg), msg
