"""The host driver: the container shares the daemon's network namespace.

This is a documented exception to isolation: the container sees and can bind
every interface of the host.  No netns, no veth, no address management.
"""

from .api import HostStack, NoopDriver


class HostDriver(NoopDriver, HostStack):
    """Driver of the predefined `host` network."""

    name = "host"
    needs_sandbox = False
