"""Network drivers: bridge, host, null (none); more register in registry.py."""
