"""Reindex steps: reading the stored segments, re-embedding them into a new collection,
the gate before a swap, and the rotation of collections behind the alias."""
