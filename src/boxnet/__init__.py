"""boxnet: Docker's container networking model as a standalone Linux engine."""

__version__ = "0.1.0"
API_VERSION = "1.52"      # the highest Engine API version served (api/versions.py)
MIN_API_VERSION = "1.24"  # the lowest; each version's differences: api/compat/
