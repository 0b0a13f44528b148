"""The null driver (`none` network): a private netns holding only loopback."""

from .api import NoNetwork, NoopDriver


class NullDriver(NoopDriver, NoNetwork):
    """Driver of the predefined `none` network."""

    name = "null"
