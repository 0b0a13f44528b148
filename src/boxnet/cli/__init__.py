"""The `boxnet` command line client (Docker Engine API 1.24 to 1.52 over a unix socket)."""
