"""Registry errors in Docker's words, each with its HTTP status."""

from __future__ import annotations

from boxnet.errors import BoxnetError


class Unauthorized(BoxnetError):
    """The registry refused the credentials (HTTP 401, as dockerd answers)."""

    status = 401
    category = "unauthorized"


class RegistryError(BoxnetError):
    """The registry answered something unusable or could not be reached (HTTP 500)."""

    status = 500
    category = "registry"
