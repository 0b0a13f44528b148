"""Volumes: Docker's local volume driver under the data root.

Sans-I/O decisions (names, driver options, container mount specs, filters)
live in `names.py`, `options.py`, `spec.py` and `filters.py`; the one piece
doing I/O is `store.py` (directories, metadata, mounts through kernel/volmount.py).
The core (core/mounts.py) ties volumes to containers.
"""
