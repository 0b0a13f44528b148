"""TLS options of the cluster store without etcd: parsing (both dockerd spellings),
the https switch, and clear errors for unusable certificate files."""

from __future__ import annotations

import argparse
import shutil
import ssl
import subprocess

import pytest

from boxnet.drivers.overlay.options import add_cluster_flags, cluster_flags
from boxnet.errors import InvalidParameter
from boxnet.store.etcd import EtcdClient
from boxnet.store.etcd_tls import TlsFiles, client_context, explain, explain_gateway


def _opts(*argv):
    p = argparse.ArgumentParser()
    add_cluster_flags(p)
    return cluster_flags(p.parse_args(["--cluster-store", "etcd://10.0.0.2:2379",
                                       "--cluster-advertise", "10.0.0.3", *argv]))["cluster_opts"]


def test_store_opts_comma_and_repeated():
    want = {"kv.cacertfile": "/c/ca.pem", "kv.certfile": "/c/x.pem", "kv.keyfile": "/c/x.key"}
    assert _opts("--cluster-store-opt",
                 "kv.cacertfile=/c/ca.pem,kv.certfile=/c/x.pem,kv.keyfile=/c/x.key") == want
    assert _opts("--cluster-store-opt", "kv.cacertfile=/c/ca.pem", "--cluster-store-opt",
                 "kv.certfile=/c/x.pem", "--cluster-store-opt", "kv.keyfile=/c/x.key") == want
    with pytest.raises(InvalidParameter):
        _opts("--cluster-store-opt", "kv.cacertfile=/c/ca.pem,bogus=1")


def test_scheme_follows_the_tls_options(tmp_path):
    if shutil.which("openssl") is None:
        pytest.skip("no openssl CLI")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", "ca.key", "-out",
                    "ca.pem", "-days", "1", "-subj", "/CN=t"], cwd=tmp_path, check=True,
                   capture_output=True)
    assert EtcdClient("etcd://h:1")._scheme == "http"
    c = EtcdClient("etcd://h:1,h2:2", cafile=str(tmp_path / "ca.pem"))
    assert c._scheme == "https" and isinstance(c._ssl, ssl.SSLContext)
    c = EtcdClient("etcd://h:1", certfile=str(tmp_path / "ca.pem"),
                   keyfile=str(tmp_path / "ca.key"))   # client cert alone: system CAs
    assert c._scheme == "https"


def test_unusable_files_name_their_option(tmp_path):
    with pytest.raises(InvalidParameter, match="kv.cacertfile=/nonexistent/ca.pem"):
        client_context(TlsFiles(cafile="/nonexistent/ca.pem"))
    with pytest.raises(InvalidParameter, match="kv.keyfile needs kv.certfile"):
        client_context(TlsFiles(keyfile="/x.key"))
    bad = tmp_path / "c.pem"
    bad.write_text("not a certificate")
    with pytest.raises(InvalidParameter, match="kv.certfile=.*cannot load"):
        client_context(TlsFiles(certfile=str(bad)))


def test_explanations():
    tls = TlsFiles(cafile="/ca.pem")
    err = ssl.SSLCertVerificationError(1, "certificate verify failed")
    err.verify_message = "unable to get local issuer certificate"
    msg = explain(err, "10.0.0.2:2379", tls)
    assert msg.startswith("TLS") and "not trusted" in msg and "/ca.pem" in msg
    msg = explain(ssl.SSLError(1, "[SSL: TLSV13_ALERT_CERTIFICATE_REQUIRED] alert"),
                  "10.0.0.2:2379", tls)
    assert "requires a client certificate" in msg
    assert explain(ConnectionRefusedError(111, "refused"), "h:1", tls) is None
    assert explain(ConnectionResetError(104, "reset by peer"), "h:1", tls, never_ok=False) is None


@pytest.mark.parametrize("gateway_error", [
    'grpc: the client connection is closing; connection closed',
    'connection error: desc = "transport: failed to write client preface: '
    'write tcp 10.0.0.3:34358->10.0.0.3:2379: write: connection reset by peer"',
])
def test_gateway_self_dial_names_client_auth(gateway_error):
    """Both wordings etcd's gateway uses when its own certificate lacks clientAuth
    get the hint; without TLS, or for other errors, the message is left alone."""
    files = TlsFiles("ca.pem", "c.pem", "c.key")
    assert "extendedKeyUsage clientAuth" in explain_gateway(gateway_error, files)
    assert explain_gateway(gateway_error, TlsFiles()) == gateway_error
    assert explain_gateway("context deadline exceeded", files) == "context deadline exceeded"
