"""Route modules of the Engine API, one per resource."""
