"""The search API: a tenant's questions answered from the index, through a Redis cache,
within per-tenant quotas (`python -m services.search`)."""
