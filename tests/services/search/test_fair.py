"""The fair gate: slots handed to waiting tenants in turn, bounded queues, cancellation."""

from __future__ import annotations

import asyncio

import pytest

from services.search.fair import FairGate, GateFull


async def _run(gate: FairGate, tenant: str, order: list[str], release: asyncio.Event) -> None:
    async with gate.turn(tenant):
        order.append(tenant)
        await release.wait()


async def _settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def test_a_freed_slot_goes_to_the_tenants_in_turn() -> None:
    async def main() -> list[str]:
        gate = FairGate(1, queue_limit=10)
        order: list[str] = []
        go = asyncio.Event()
        go.set()
        hold = asyncio.Event()
        first = asyncio.create_task(_run(gate, "noisy", order, hold))
        await _settle()
        # the noisy tenant queues five searches before the quiet one asks once
        tasks = [asyncio.create_task(_run(gate, "noisy", order, go)) for _ in range(5)]
        await _settle()
        tasks.append(asyncio.create_task(_run(gate, "quiet", order, go)))
        await _settle()
        hold.set()
        await asyncio.gather(first, *tasks)
        return order

    order = asyncio.run(main())
    assert order[:3] == ["noisy", "noisy", "quiet"]  # next turn after the one running
    assert order.count("noisy") == 6


def test_tenants_alternate_while_both_have_searches_waiting() -> None:
    async def main() -> list[str]:
        gate = FairGate(1, queue_limit=10)
        order: list[str] = []
        go, hold = asyncio.Event(), asyncio.Event()
        go.set()
        first = asyncio.create_task(_run(gate, "a", order, hold))
        await _settle()
        tasks = [asyncio.create_task(_run(gate, "a", order, go)) for _ in range(3)]
        tasks += [asyncio.create_task(_run(gate, "b", order, go)) for _ in range(3)]
        await _settle()
        hold.set()
        await asyncio.gather(first, *tasks)
        return order

    assert asyncio.run(main()) == ["a", "a", "b", "a", "b", "a", "b"]


def test_no_more_than_the_slots_run_at_once() -> None:
    async def main() -> int:
        gate = FairGate(3, queue_limit=100)
        running = most = 0

        async def search(tenant: str) -> None:
            nonlocal running, most
            async with gate.turn(tenant):
                running += 1
                most = max(most, running)
                await asyncio.sleep(0.001)
                running -= 1

        await asyncio.gather(*(search(f"t{i % 4}") for i in range(40)))
        return most

    assert asyncio.run(main()) == 3


def test_a_tenant_over_its_queue_limit_is_refused_and_others_are_not() -> None:
    async def main() -> None:
        gate = FairGate(1, queue_limit=2)
        hold = asyncio.Event()
        order: list[str] = []
        tasks = [asyncio.create_task(_run(gate, "a", order, hold)) for _ in range(3)]
        await _settle()  # one runs, two wait
        with pytest.raises(GateFull):
            async with gate.turn("a"):
                pass
        other = asyncio.create_task(_run(gate, "b", order, hold))
        await _settle()
        assert gate.waiting("b") == 1
        hold.set()
        await asyncio.gather(*tasks, other)

    asyncio.run(main())


def test_a_cancelled_waiter_gives_up_its_place_and_the_slot_still_circulates() -> None:
    async def main() -> list[str]:
        gate = FairGate(1, queue_limit=10)
        order: list[str] = []
        hold, go = asyncio.Event(), asyncio.Event()
        go.set()
        first = asyncio.create_task(_run(gate, "a", order, hold))
        await _settle()
        gone = asyncio.create_task(_run(gate, "b", order, go))
        after = asyncio.create_task(_run(gate, "c", order, go))
        await _settle()
        gone.cancel()
        hold.set()
        await asyncio.gather(first, after)
        assert gone.cancelled()
        async with gate.turn("d"):  # the slot is free again
            order.append("d")
        return order

    assert asyncio.run(main()) == ["a", "c", "d"]


def test_a_waiter_cancelled_as_it_is_handed_the_slot_passes_it_on() -> None:
    async def main() -> list[str]:
        gate = FairGate(1, queue_limit=10)
        order: list[str] = []
        go = asyncio.Event()
        go.set()
        async with gate.turn("a"):
            waiter = asyncio.create_task(_run(gate, "b", order, go))
            later = asyncio.create_task(_run(gate, "c", order, go))
            await _settle()
        waiter.cancel()  # handed the slot on release, cancelled before it ran
        await asyncio.gather(later)
        return order

    assert asyncio.run(main()) == ["c"]
