"""Drift steps: River detectors over each tenant's traffic, the alerts they raise, and
the Kafka sink that publishes them once."""
