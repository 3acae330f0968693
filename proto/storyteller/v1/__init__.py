"""storyteller.v1 messages and services (generated at build time; see setup.py)."""
