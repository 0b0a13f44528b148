"""Pure data of boxnet's Container Network Model; imports nothing of ours."""

from .network import IpamPool, Network
from .endpoint import Endpoint, EndpointSettings
from .container import Container, ContainerConfig, PortBinding, RestartPolicy
from .mount import MountPoint

__all__ = ["IpamPool", "Network", "Endpoint", "EndpointSettings", "Container", "ContainerConfig",
           "PortBinding", "RestartPolicy", "MountPoint"]
