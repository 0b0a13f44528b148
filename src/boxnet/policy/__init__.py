"""Least-privilege network policy (issue 20 section 1), sans-I/O.

``model.py`` parses and validates a container's policy (the ``com.boxnet.policy``
label, or compose's ``x-boxnet: {policy: ...}``), ``compile.py`` turns the
policies and the current endpoints into the nftables set elements the
firewall installs, and ``verdict.py`` answers "does the policy allow A -> B
port/proto, and why" from the same elements.  See docs/policy.md.
"""
