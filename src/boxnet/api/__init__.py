"""The Docker Engine API (v1.50) served over a unix socket with aiohttp."""
