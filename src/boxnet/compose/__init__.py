"""boxnet compose: compose files on boxnet, as a client of the Engine API only.

loader (YAML 1.2, interpolation, merge, schema, semantics) -> model -> project (up/down)
-> check (reachability proof), lint (practices), graph (picture). Never imports daemon code.
"""
