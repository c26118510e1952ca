"""Headwater's HTTP deployables, one package each (`services/<name>/`), started with
`python -m services.<name>`. A service imports `schemas`, `models` and `operators`, never
another service nor `flows` (`tests/test_layout.py` checks it)."""
