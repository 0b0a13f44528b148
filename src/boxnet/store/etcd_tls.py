"""TLS to etcd: the client context from dockerd's ``kv.*`` store options, and
plain-words explanations of TLS failures.

Scheme: the store URL stays ``etcd://H:P[,H:P...]``; giving any of
``kv.cacertfile``, ``kv.certfile``, ``kv.keyfile`` switches every member to
https, as Docker's libkv did with the same options.  Without
``kv.cacertfile`` the system's trust store verifies etcd's certificate.
etcd's certificate must name the address used to reach it (an IP SAN when
the URL holds an IP).
"""

from __future__ import annotations

import ssl

from ..errors import InvalidParameter


class TlsFiles:
    """The three files, as given (empty strings when absent)."""

    def __init__(self, cafile: str = "", certfile: str = "", keyfile: str = ""):
        self.cafile, self.certfile, self.keyfile = cafile, certfile, keyfile

    @property
    def enabled(self) -> bool:
        """Any TLS option given: talk https."""
        return bool(self.cafile or self.certfile or self.keyfile)


def client_context(files: TlsFiles) -> ssl.SSLContext:
    """The SSL context for etcd; InvalidParameter naming the option whose file is bad."""
    if files.keyfile and not files.certfile:
        raise InvalidParameter("--cluster-store-opt kv.keyfile needs kv.certfile (the client "
                               "certificate it belongs to)")
    try:
        ctx = ssl.create_default_context(cafile=files.cafile or None)
    except (OSError, ssl.SSLError) as e:
        raise InvalidParameter(f"--cluster-store-opt kv.cacertfile={files.cafile}: cannot load "
                               f"the CA certificate: {e}") from None
    if files.certfile:
        try:
            ctx.load_cert_chain(files.certfile, files.keyfile or None)
        except (OSError, ssl.SSLError) as e:
            raise InvalidParameter(
                f"--cluster-store-opt kv.certfile={files.certfile}"
                f"{',kv.keyfile=' + files.keyfile if files.keyfile else ''}: cannot load the "
                f"client certificate and key: {e}") from None
    return ctx


def _ssl_cause(exc: BaseException) -> ssl.SSLError | None:
    """The ssl module's own error inside an aiohttp exception chain, if any (aiohttp's
    TLS exceptions subclass ssl.SSLError too, but carry no verify details)."""
    found: list[ssl.SSLError] = []
    e: BaseException | None = exc
    for _ in range(8):
        if e is None:
            break
        for inner in (getattr(e, "certificate_error", None), getattr(e, "os_error", None), e):
            if isinstance(inner, ssl.SSLError):
                found.append(inner)
        e = e.__cause__ or e.__context__
    own = [f for f in found if type(f).__module__ == "ssl"]
    return (own or found or [None])[0]


def _client_cert_rejected(member: str, files: TlsFiles, detail: str) -> str:
    if not files.certfile:
        return (f"TLS: etcd at {member} requires a client certificate (--client-cert-auth): "
                f"give --cluster-store-opt kv.certfile=,kv.keyfile= [{detail}]")
    return (f"TLS: etcd at {member} rejected this host's client certificate "
            f"kv.certfile={files.certfile} (not signed by a CA in etcd's --trusted-ca-file, "
            f"or not valid for client auth) [{detail}]")


def explain(exc: BaseException, member: str, files: TlsFiles,
            never_ok: bool = True) -> str | None:
    """A sentence naming the TLS problem behind ``exc`` (None: not a TLS problem).
    ``never_ok``: no request to this store succeeded yet (a dropped connection is
    then blamed on the certificates; later it is just a dropped connection)."""
    err = _ssl_cause(exc)
    text = str(err or exc)
    if not files.enabled:
        if never_ok and "Server disconnected" in text or "Empty reply" in text:
            return (f"{member} closed a plain-http request (if etcd serves TLS, give "
                    f"--cluster-store-opt kv.cacertfile=,kv.certfile=,kv.keyfile=)")
        return None
    if err is None:
        # TLS 1.3: the client's handshake ends before etcd checks the client
        # certificate, so a rejection can surface as a reset of the first request
        if never_ok and (isinstance(exc, ConnectionResetError) or "reset by peer" in text
                         or "Server disconnected" in text):
            return _client_cert_rejected(member, files, f"connection dropped after the "
                                         f"handshake: {text}")
        return None
    if isinstance(err, ssl.SSLCertVerificationError):
        what = getattr(err, "verify_message", "") or text
        return (f"TLS: etcd's certificate at {member} is not trusted ({what}); check "
                f"kv.cacertfile={files.cafile or '(system CAs)'} is the CA that signed it "
                f"and that the certificate names {member.rpartition(':')[0]}")
    if "WRONG_VERSION_NUMBER" in text or "wrong version number" in text:
        return f"TLS: {member} does not speak TLS (drop the kv.* TLS options for a plain etcd)"
    if any(a in text.upper() for a in ("CERTIFICATE_REQUIRED", "BAD_CERTIFICATE", "UNKNOWN_CA")):
        return _client_cert_rejected(member, files, text)
    return f"TLS handshake with {member} failed: {text}"


# how etcd's gateway words a refused dial to its own gRPC port (the wording
# depends on which side of the TLS handshake notices first)
_GATEWAY_SELF_DIAL = ("connection closed", "failed to write client preface")


def explain_gateway(msg: str, files: TlsFiles) -> str:
    """etcd 3.4's JSON gateway dials its own gRPC port with the server's --cert-file;
    under --client-cert-auth that certificate must allow client auth too, or every
    request answers 503, worded "connection closed" or, when the gRPC server's reset
    wins the race, "failed to write client preface".  Say so instead of "unreachable"."""
    if files.enabled and any(m in msg for m in _GATEWAY_SELF_DIAL):
        return (f"{msg} (etcd's JSON gateway could not reach its own gRPC server: with "
                f"--client-cert-auth, etcd's --cert-file must also carry extendedKeyUsage "
                f"clientAuth, see etcd's log for 'incompatible key usage')")
    return msg
