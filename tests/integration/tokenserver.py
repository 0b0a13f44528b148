"""A bearer-token server for the test registry (distribution's token auth):
GET /token?service=&scope=repository:NAME:ACTIONS with Basic credentials
answers {"token", "access_token", "expires_in"}: a JWT (RS256, signed with
the openssl CLI, the signing certificate in its x5c header) granting the
asked actions to a known user; wrong credentials get a 401; anonymous
requests get a token with no access (the registry then refuses).

Run: python tokenserver.py LISTEN_HOST:PORT KEY CERT ISSUER USER:PASSWORD..."""

from __future__ import annotations

import base64
import json
import secrets
import subprocess
import sys
import time

from aiohttp import web


def b64url(data: bytes) -> str:
    """Base64url without padding (JWT)."""
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def main() -> None:
    """Serve until killed."""
    listen, key, cert, issuer, *users = sys.argv[1:]
    creds = dict(u.split(":", 1) for u in users)
    refresh = {f"refresh-{u}": u for u in creds}   # each user's refresh token (identitytoken)
    der = subprocess.run(["openssl", "x509", "-in", cert, "-outform", "DER"],
                         capture_output=True, check=True).stdout
    header = {"typ": "JWT", "alg": "RS256", "x5c": [base64.b64encode(der).decode()]}
    log = open(sys.argv[0] + ".log", "a")

    async def token(request: web.Request) -> web.Response:
        user = ""
        auth = request.headers.get("Authorization", "")
        query = request.query
        if request.method == "POST":            # OAuth2 refresh-token grant
            form = await request.post()
            query = form
            if form.get("grant_type") != "refresh_token" or \
                    form.get("refresh_token") not in refresh:
                return web.json_response({"error": "invalid_grant"}, status=401)
            user = refresh[form["refresh_token"]]
        if auth.startswith("Basic "):
            u, _, p = base64.b64decode(auth[6:]).decode().partition(":")
            if creds.get(u) != p:
                return web.json_response({"errors": [{"code": "UNAUTHORIZED",
                                                      "message": "bad credentials"}]},
                                         status=401)
            user = u
        access = []
        for scope in query.getall("scope", []):
            kind, _, rest = scope.partition(":")
            name, _, actions = rest.rpartition(":")
            if user and kind == "repository":
                access.append({"type": kind, "name": name, "actions": actions.split(",")})
        now = int(time.time())
        claims = {"iss": issuer, "sub": user, "aud": query.get("service", ""),
                  "exp": now + 300, "nbf": now - 10, "iat": now, "jti": secrets.token_hex(8),
                  "access": access}
        signing = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}"
        sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", key],
                             input=signing.encode(), capture_output=True, check=True).stdout
        jwt = f"{signing}.{b64url(sig)}"
        log.write(f"token user={user!r} scope={query.getall('scope', [])} "
                  f"{request.method}\n")
        log.flush()
        return web.json_response({"token": jwt, "access_token": jwt, "expires_in": 300,
                                  "issued_at": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                             time.gmtime(now))})

    app = web.Application()
    app.router.add_get("/token", token)
    app.router.add_post("/token", token)
    host, port = listen.rsplit(":", 1)
    web.run_app(app, host=host, port=int(port), print=None)


if __name__ == "__main__":
    main()
