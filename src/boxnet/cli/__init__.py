"""The `boxnet` command line client (Docker Engine API v1.50 over a unix socket)."""
