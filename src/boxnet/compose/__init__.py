"""boxnet compose: compose files on boxnet, as a client of the Engine API only.

loader (YAML 1.2, interpolation, merge, schema, semantics) -> model -> project (up/down)
-> check (reachability proof), lint (practices), graph (picture). It talks to the daemon
through boxnet.client; it never imports daemon code, the CLI (cli/) or click: the CLI wraps
it (cli/compose.py). tests/unit/test_import_graph.py holds it to that.
"""
