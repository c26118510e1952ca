"""Index steps: cutting conversations into segments, embedding them, and writing them to
Weaviate."""
