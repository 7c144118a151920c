"""The search spaces 1-3 of NAS-Bench-1Shot1."""
