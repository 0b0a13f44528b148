"""State stores: SQLite for local scope (etcd for global scope comes with overlay)."""
