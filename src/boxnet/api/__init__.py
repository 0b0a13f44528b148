"""The Docker Engine API (versions 1.24 to 1.52, api/versions.py) served over a unix socket with aiohttp."""
