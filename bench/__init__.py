"""boxnet's benchmark harness: boxnet side by side with Docker, netavark, CNI and the raw kernel floor.

Entry point: ``python -m bench.run [--quick] [--only NAME]``. Every peer runs inside its own
"bench host" network namespace (``bxb-<hex>``), so their bridges and firewall rules never meet
and the root netns is left untouched.
"""
