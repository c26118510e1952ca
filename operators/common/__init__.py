"""What every flow shares: the clock, metrics serving, JSONL and Kafka plumbing, Weaviate
connections, text folding and micro-batching."""
