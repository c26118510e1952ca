"""Ingest steps: reading files, archiving raw lines, parsing and validating envelopes,
normalizing text, and de-duplicating and reordering each conversation."""
