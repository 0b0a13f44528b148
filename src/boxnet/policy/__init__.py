"""Least-privilege network policy (issue 20 section 1), sans-I/O.

``model.py`` parses and validates a container's policy (the ``com.boxnet.policy``
label, or compose's ``x-boxnet: {policy: ...}``), ``plan.py`` turns the
policies and the current endpoints into what the firewall installs (group
sets, one chain per distinct policy, the endpoints' verdict map elements) and
the difference to apply (``plandelta.py``: the reference counts that let one
container's change cost in proportion to what it touches), ``compile.py`` into address pair elements (the
reference of what a policy means), and ``verdict.py`` answers "does the
policy allow A -> B port/proto, and why" from those.  See docs/policy.md.
"""
