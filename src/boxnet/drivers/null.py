"""The null driver (`none` network): a private netns holding only loopback."""

from .api import NoopDriver


class NullDriver(NoopDriver):
    """Driver of the predefined `none` network."""

    name = "null"
