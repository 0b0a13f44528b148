"""Error categories shared by every layer.

Each error carries a category that the API maps to Docker's HTTP status codes,
and a message a user can act on.
"""


class BoxnetError(Exception):
    """Base of every error boxnet reports to a user."""

    status = 500
    category = "internal"

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class InvalidParameter(BoxnetError):
    """The request is malformed or names impossible values (HTTP 400)."""

    status = 400
    category = "invalid parameter"


class Forbidden(BoxnetError):
    """The operation is understood but not allowed (HTTP 403)."""

    status = 403
    category = "forbidden"


class SubnetTaken(Forbidden):
    """A requested subnet overlaps one a network already holds; ``holder`` names it
    (the plugin's overlay create joins the holder when it is the overlay it wanted)."""

    def __init__(self, message: str, holder: str):
        super().__init__(message)
        self.holder = holder


class NotFound(BoxnetError):
    """The named object does not exist (HTTP 404)."""

    status = 404
    category = "not found"


class Conflict(BoxnetError):
    """The operation conflicts with existing state (HTTP 409)."""

    status = 409
    category = "conflict"


class NotImplementedFeature(BoxnetError):
    """A feature boxnet or this kernel does not provide (HTTP 501)."""

    status = 501
    category = "not implemented"


class Unavailable(BoxnetError):
    """A dependency (kernel feature, store, runtime) is not available (HTTP 503)."""

    status = 503
    category = "unavailable"


class KernelError(BoxnetError):
    """The kernel refused an operation; the message says which and why."""

    status = 500
    category = "internal"


class NotModified(BoxnetError):
    """Nothing to do: already in the requested state (HTTP 304)."""

    status = 304
    category = "not modified"
