"""Live flows (issue 20 section 3): connections from conntrack events, named
with containers, services and networks (table.py is sans-I/O; service.py
runs the subscription in the daemon)."""
