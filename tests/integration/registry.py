"""A real registry for tests: Debian's docker-registry (CNCF distribution 2.8)
in a test netns, seeded with skopeo.

`Registry(outside, tls=..., users=...)` writes a temp config (filesystem
storage in a temp dir; plain HTTP, or TLS with a CA this module makes with the
openssl CLI; htpasswd basic auth with bcrypt hashes from the C library's
crypt(3)) and starts /usr/bin/docker-registry inside the Outside netns, so
the daemon reaches it at `<outside ip>:5000` and nothing leaves the machine.
`seed()` copies a docker-archive or OCI layout into it with `skopeo copy`
(run inside the host netns); `blob_path()` finds a blob file in the storage
so a test can corrupt it.  Plain module (no pytest import): bench/ reuses it.
"""

from __future__ import annotations

import base64
import json
import os
import sys
import time
import warnings
from pathlib import Path

from .harness import STARTED_PIDS, run

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import crypt  # bcrypt through libxcrypt: no pip package needed

REGISTRY_BIN = "/usr/bin/docker-registry"
SKOPEO = "/usr/bin/skopeo"
PORT = 5000


def make_ca(d: Path, server_ip: str, name: str = "registry") -> tuple[Path, Path, Path]:
    """A CA and a server certificate for `server_ip` (openssl CLI); returns
    (ca.crt, server.crt, server.key)."""
    ca_key, ca_crt = d / "ca.key", d / "ca.crt"
    key, csr, crt, ext = d / f"{name}.key", d / f"{name}.csr", d / f"{name}.crt", d / "ext.cnf"
    run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", "/CN=boxnet test CA", "-keyout", str(ca_key), "-out", str(ca_crt)])
    run(["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={server_ip}",
         "-keyout", str(key), "-out", str(csr)])
    ext.write_text(f"subjectAltName=IP:{server_ip}\nextendedKeyUsage=serverAuth,clientAuth\n")
    run(["openssl", "x509", "-req", "-in", str(csr), "-CA", str(ca_crt), "-CAkey", str(ca_key),
         "-CAcreateserial", "-days", "2", "-extfile", str(ext), "-out", str(crt)])
    return ca_crt, crt, key


def client_cert(d: Path, ca_crt: Path) -> tuple[Path, Path]:
    """A client certificate signed by the CA next to `ca_crt`: (client.cert, client.key)."""
    key, csr, crt, ext = d / "client.key", d / "client.csr", d / "client.cert", d / "cext.cnf"
    run(["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=boxnet test client",
         "-keyout", str(key), "-out", str(csr)])
    ext.write_text("extendedKeyUsage=clientAuth\n")
    run(["openssl", "x509", "-req", "-in", str(csr), "-CA", str(ca_crt),
         "-CAkey", str(ca_crt.with_suffix(".key")), "-CAcreateserial", "-days", "2",
         "-extfile", str(ext), "-out", str(crt)])
    return crt, key


class Registry:
    """docker-registry running in an Outside netns (see the module docstring)."""

    __test__ = False

    def __init__(self, outside, tls: bool = False, users: dict[str, str] | None = None,
                 port: int = PORT, token: bool = False, client_certs: bool = False) -> None:
        """Write the config and start the registry; wait until /v2/ answers.
        `token`: bearer-token auth by tokenserver.py (on port+1) for `users`
        instead of htpasswd.  `client_certs` (with tls): the registry requires a client
        certificate signed by its CA (`self.client`: (cert, key))."""
        self.outside = outside
        self.dir = outside.host.dir / f"registry-{outside.name}-{port}"
        self.dir.mkdir()
        self.storage = self.dir / "storage"
        self.storage.mkdir()
        self.addr = f"{outside.ip}:{port}"
        self.tls = tls
        self.users = dict(users or {})
        self.ca = None
        lines = ["version: 0.1", "log:", "  level: info",
                 "storage:", "  filesystem:", f"    rootdirectory: {self.storage}",
                 "  delete:", "    enabled: true",
                 "http:", f"  addr: {self.addr}", "  secret: boxnet-test"]
        if tls:
            self.ca, crt, key = make_ca(self.dir, outside.ip)
            lines += ["  tls:", f"    certificate: {crt}", f"    key: {key}"]
        self.client = None
        if tls and client_certs:
            self.client = client_cert(self.dir, self.ca)
            lines += ["    clientcas:", f"      - {self.ca}"]
        self.token_log = None
        if token:
            tkey, tcrt = self.dir / "token.key", self.dir / "token.crt"
            run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                 "-subj", "/CN=boxnet test token issuer", "-keyout", str(tkey),
                 "-out", str(tcrt)])
            script = self.dir / "tokenserver.py"
            script.write_text(Path(__file__).with_name("tokenserver.py").read_text())
            self.token_log = Path(str(script) + ".log")
            taddr = f"{outside.ip}:{port + 1}"
            outside.popen([sys.executable, str(script), taddr, str(tkey), str(tcrt),
                           "boxnet-test-issuer", *(f"{u}:{p}" for u, p in self.users.items())],
                          log=self.dir / "tokenserver.out")
            lines += ["auth:", "  token:", f"    realm: http://{taddr}/token",
                      "    service: boxnet-test-registry", "    issuer: boxnet-test-issuer",
                      f"    rootcertbundle: {tcrt}"]
        elif self.users:
            pw = self.dir / "htpasswd"
            pw.write_text("".join(f"{u}:{crypt.crypt(p, crypt.mksalt(crypt.METHOD_BLOWFISH))}\n"
                                  for u, p in self.users.items()))
            lines += ["auth:", "  htpasswd:", "    realm: boxnet-test", f"    path: {pw}"]
        self.config = self.dir / "config.yml"
        self.config.write_text("\n".join(lines) + "\n")
        self.log = self.dir / "registry.log"
        self.proc = None
        self.start()

    def start(self, timeout: float = 30) -> None:
        """(Re)start the server process; wait until it answers on /v2/."""
        self.proc = self.outside.popen([REGISTRY_BIN, "serve", str(self.config)], log=self.log)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"docker-registry exited {self.proc.returncode}\n"
                                     + self.log.read_text(errors="replace")[-3000:])
            r = self.curl("/v2/", check=False)
            if r.returncode == 0 and r.stdout.strip() in ("200", "401"):
                return
            time.sleep(0.1)
        raise AssertionError(f"docker-registry not ready after {timeout}s\n"
                             + self.log.read_text(errors="replace")[-3000:])

    def kill(self) -> None:
        """SIGKILL the server (our PID)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        STARTED_PIDS.discard(self.proc.pid)

    @property
    def url(self) -> str:
        """Base URL of the registry."""
        return f"{'https' if self.tls else 'http'}://{self.addr}"

    def curl(self, path: str, *extra: str, check: bool = True):
        """curl from the host netns; stdout is the HTTP status code unless -o/-w given."""
        argv = ["curl", "-s", "-w", "%{http_code}", "--max-time", "10"]
        if "-o" not in extra:
            argv += ["-o", "/dev/null"]
        if self.ca:
            argv += ["--cacert", str(self.ca)]
        if self.client:
            argv += ["--cert", str(self.client[0]), "--key", str(self.client[1])]
        if self.users:
            u, p = next(iter(self.users.items()))
            argv += ["-u", f"{u}:{p}"]
        return self.outside.host.sh([*argv, *extra, self.url + path], check=check)

    def seed(self, source: str, ref: str, all_images: bool = False) -> None:
        """`skopeo copy SOURCE docker://ADDR/REF` (SOURCE e.g. docker-archive:/x.tar,
        oci:/dir:tag), run in the host netns."""
        argv = [SKOPEO, "--insecure-policy", "copy", "--retry-times", "0"]
        if all_images:
            argv.append("--all")
        if self.tls:
            certs = self.dir / "skopeo-certs"
            certs.mkdir(exist_ok=True)
            (certs / "ca.crt").write_bytes(self.ca.read_bytes())
            if self.client:
                (certs / "client.cert").write_bytes(self.client[0].read_bytes())
                (certs / "client.key").write_bytes(self.client[1].read_bytes())
            argv += ["--dest-cert-dir", str(certs)]
        else:
            argv.append("--dest-tls-verify=false")
        if self.users:
            u, p = next(iter(self.users.items()))
            argv += ["--dest-creds", f"{u}:{p}"]
        self.outside.host.sh([*argv, source, f"docker://{self.addr}/{ref}"], timeout=120)

    def blob_path(self, digest: str) -> Path:
        """The file holding a blob in the filesystem storage."""
        hexd = digest.split(":", 1)[1]
        return (self.storage / "docker/registry/v2/blobs/sha256" / hexd[:2] / hexd / "data")

    def manifest(self, ref: str, accept: str = "application/vnd.docker.distribution.manifest"
                 ".v2+json, application/vnd.oci.image.manifest.v1+json, "
                 "application/vnd.oci.image.index.v1+json, "
                 "application/vnd.docker.distribution.manifest.list.v2+json") -> tuple[str, dict]:
        """(Docker-Content-Digest, parsed manifest) of repo:tag, read with curl."""
        repo, tag = ref.rsplit(":", 1)
        hdr, body = self.dir / "m.headers", self.dir / "m.body"
        self.curl(f"/v2/{repo}/manifests/{tag}", "-D", str(hdr), "-o", str(body),
                  "-H", f"Accept: {accept}")
        digest = next((line.split(":", 1)[1].strip() for line in hdr.read_text().splitlines()
                       if line.lower().startswith("docker-content-digest:")), "")
        return digest, json.loads(body.read_text())

    def teardown(self) -> None:
        """Kill the server (the Outside's teardown removes its netns)."""
        self.kill()


def registry_auth(user: str, password: str, server: str) -> str:
    """The X-Registry-Auth header value (base64url JSON) Docker's clients send."""
    doc = {"username": user, "password": password, "serveraddress": server}
    return base64.urlsafe_b64encode(json.dumps(doc).encode()).decode()


def docker_config(d: Path) -> dict[str, str]:
    """Environment for the docker CLI with its own empty config dir under `d`
    (DOCKER_CONFIG: logins do not touch the machine's ~/.docker)."""
    cfg = d / "docker-config"
    cfg.mkdir(exist_ok=True)
    if not (cfg / "config.json").exists():
        (cfg / "config.json").write_text("{}")
    return {**os.environ, "DOCKER_CONFIG": str(cfg)}



def join(outside, host, host_addr: str = "198.18.0.5/30", addr: str = "198.18.0.6/30",
         host_ifname: str = "bxo1", peer: str = "eth1") -> None:
    """Join a second TestHost to an existing Outside (another veth pair), so
    a second daemon reaches the same registry; removed with the netns."""
    gw = addr.split("/")[0]
    run(["ip", "-n", host.name, "link", "add", host_ifname, "type", "veth", "peer", "name",
         peer, "netns", outside.name])
    run(["ip", "-n", host.name, "addr", "add", host_addr, "dev", host_ifname])
    run(["ip", "-n", host.name, "link", "set", host_ifname, "up"])
    run(["ip", "-n", outside.name, "addr", "add", addr, "dev", peer])
    run(["ip", "-n", outside.name, "link", "set", peer, "up"])
    run(["ip", "-n", host.name, "route", "add", f"{outside.ip}/32", "via", gw])
