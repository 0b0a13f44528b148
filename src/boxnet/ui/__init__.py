"""boxnet ui: the live picture (static page served by the daemon, api/routes/ui.py)."""

from pathlib import Path

STATIC = Path(__file__).resolve().parent / "static"
