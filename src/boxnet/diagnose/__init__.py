"""`boxnet network diagnose`: why A cannot reach B (reason.py sans-I/O, gather.py I/O)."""
