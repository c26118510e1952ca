"""Headwater's steps, a package per concern: `ingest`, `pii`, `index`, `drift`, and
`common` for what they share. Each module keeps its pure logic beside the thin Bytewax
wrapper that wires it into a stream."""
