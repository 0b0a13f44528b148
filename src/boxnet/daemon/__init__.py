"""boxnetd: the daemon process (flags, lock, wiring, signals)."""
