"""Per-tenant quotas in the real Redis (`operators.common.quota.TenantQuota`): the rate
holds across processes' leases, refusals say when to retry, and a refused tenant is
refused in the process for a moment without asking Redis again."""

from __future__ import annotations

import asyncio

import pytest

from operators.common import quota as quota_module
from operators.common.quota import TenantQuota


def _forget(redis_client, tenant: str) -> None:
    """Reset the tenant's window in Redis, as a second passing would."""
    for key in redis_client.scan_iter(match=f"headwater-quota*{tenant}*"):
        redis_client.delete(key)


async def _checks(q: TenantQuota, tenant: str, per_s: int, n: int) -> list[int | None]:
    return [await q.check(tenant, per_s) for _ in range(n)]


def test_two_processes_leases_together_stay_within_the_rate(settings, unique) -> None:
    tenant = unique("quota-rate")

    async def main() -> list[int | None]:
        first = TenantQuota(settings.redis_url, scope="test")
        second = TenantQuota(settings.redis_url, scope="test")
        a, b = await asyncio.gather(
            _checks(first, tenant, 100, 150), _checks(second, tenant, 100, 150)
        )
        return a + b

    results = asyncio.run(main())
    allowed = sum(r is None for r in results)
    # one window's rate, and at most the two leases' worth more as the window slides
    assert 90 <= allowed <= 100 + 2 * 2, allowed
    assert all(r is None or r >= 1 for r in results)


def test_a_refused_tenant_is_refused_without_asking_redis_again(
    settings, unique, redis_client, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant, other = unique("quota-refused"), unique("quota-other")
    monkeypatch.setattr(quota_module, "REFUSED_S", 60.0)

    async def main() -> tuple[int | None, int | None, int | None]:
        q = TenantQuota(settings.redis_url, scope="test")
        results = await _checks(q, tenant, 5, 10)
        assert results[:5] == [None] * 5 and all(r is not None for r in results[5:])
        _forget(redis_client, tenant)  # Redis would admit it now; the process remembers
        return await q.check(tenant, 5), results[-1], await q.check(other, 5)

    again, last, other_tenant = asyncio.run(main())
    assert again == last and again is not None and again >= 1
    assert other_tenant is None  # only the refused tenant is remembered


def test_once_the_moment_has_passed_redis_is_asked_again(
    settings, unique, redis_client, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant = unique("quota-again")
    monkeypatch.setattr(quota_module, "REFUSED_S", 0.0)

    async def main() -> int | None:
        q = TenantQuota(settings.redis_url, scope="test")
        assert (await _checks(q, tenant, 5, 6))[-1] is not None
        _forget(redis_client, tenant)
        await asyncio.sleep(1 / 5 + 0.05)  # past the time a rate of 5/s takes to allow one
        return await q.check(tenant, 5)

    assert asyncio.run(main()) is None


def test_with_redis_unreachable_requests_pass(unique) -> None:
    async def main() -> list[int | None]:
        q = TenantQuota("redis://127.0.0.1:9/0", scope="test")  # nothing listens on port 9
        return await _checks(q, unique("quota-down"), 1, 5)

    assert asyncio.run(main()) == [None] * 5
