"""The core: the Controller that owns networks, endpoints, sandboxes, containers."""
