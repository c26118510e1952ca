"""The webhook gateway (`python -m services.gateway`): Zalo OA and partner webhooks and
CSV exports in, verified, written to the `raw.*` topics, acknowledged once Kafka has them."""
