"""The cache's pure parts: the normalized question, keys, the local layer, single flight."""

from __future__ import annotations

import asyncio
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas.ids import is_valid_tenant
from services.search.cache import (
    LocalCache,
    SingleFlight,
    answer_key,
    normalize_question,
    vector_key,
)


@given(st.text())
def test_normalizing_twice_changes_nothing(text: str) -> None:
    once = normalize_question(text)
    assert normalize_question(once) == once


@given(st.text(), st.sampled_from([" ", "\t", "\n", "  \u00a0 "]))
def test_spacing_and_case_do_not_make_another_question(text: str, space: str) -> None:
    spaced = space + space.join(text.split()) + space
    assert normalize_question(spaced.upper()) == normalize_question(text.upper())
    assert normalize_question(text) == normalize_question(f"  {text}\n")


def test_decomposed_vietnamese_is_the_same_question_as_composed() -> None:
    composed = "Phí ship ra Hà Nội bao nhiêu?"
    decomposed = unicodedata.normalize("NFD", composed)
    assert decomposed != composed
    assert normalize_question(decomposed) == normalize_question(composed)
    assert normalize_question("  PHÍ   ship ra hà nội bao nhiêu? ") == normalize_question(composed)


def test_diacritics_still_make_another_question() -> None:
    assert normalize_question("bán hàng") != normalize_question("bạn hàng")


def test_keys_separate_tenant_collection_parameters_and_question() -> None:
    base = answer_key("acme", "ChatSegment_abc", "q", 5, 0.5)
    others = {
        answer_key("globex", "ChatSegment_abc", "q", 5, 0.5),
        answer_key("acme", "ChatSegment_def", "q", 5, 0.5),
        answer_key("acme", "ChatSegment_abc", "q", 3, 0.5),
        answer_key("acme", "ChatSegment_abc", "q", 5, 0.75),
        answer_key("acme", "ChatSegment_abc", "q2", 5, 0.5),
    }
    assert base not in others and len(others) == 5
    assert vector_key("abc", "q") != vector_key("def", "q")
    # the parts are joined with ':', which neither a tenant id nor a collection name has
    assert not is_valid_tenant("a:b")


def test_local_entries_expire_on_their_own_time() -> None:
    cache: LocalCache[str] = LocalCache(10)
    cache.put("a", "A", until=100.0)
    cache.put("b", "B", until=200.0)
    assert cache.get("a", now=99.9) == "A"
    assert cache.get("a", now=100.0) is None
    assert cache.get("b", now=150.0) == "B"


def test_the_least_recently_used_entry_goes_first() -> None:
    cache: LocalCache[int] = LocalCache(2)
    cache.put("a", 1, until=1e9)
    cache.put("b", 2, until=1e9)
    assert cache.get("a", now=0) == 1  # now b is the least recently used
    cache.put("c", 3, until=1e9)
    assert (cache.get("a", 0), cache.get("b", 0), cache.get("c", 0)) == (1, None, 3)


def test_a_zero_size_local_cache_keeps_nothing() -> None:
    cache: LocalCache[int] = LocalCache(0)
    cache.put("a", 1, until=1e9)
    assert cache.get("a", now=0) is None


def test_concurrent_calls_for_one_key_share_one_computation() -> None:
    async def main() -> tuple[list[tuple[int, bool]], int]:
        flights: SingleFlight[int] = SingleFlight()
        calls = 0

        async def compute() -> int:
            nonlocal calls
            calls += 1
            await asyncio.sleep(0.01)
            return 42

        results = await asyncio.gather(*(flights.run("k", compute) for _ in range(10)))
        return list(results), calls

    results, calls = asyncio.run(main())
    assert calls == 1
    assert sorted(results) == [(42, False)] + [(42, True)] * 9


def test_a_failed_computation_fails_every_waiter_and_the_next_call_tries_again() -> None:
    async def main() -> None:
        flights: SingleFlight[int] = SingleFlight()

        async def fail() -> int:
            await asyncio.sleep(0.01)
            raise RuntimeError("weaviate down")

        async def works() -> int:
            return 7

        results = await asyncio.gather(
            *(flights.run("k", fail) for _ in range(3)), return_exceptions=True
        )
        assert all(isinstance(r, RuntimeError) for r in results)
        assert await flights.run("k", works) == (7, False)

    asyncio.run(main())


def test_a_cancelled_waiter_does_not_cancel_the_computation() -> None:
    async def main() -> None:
        flights: SingleFlight[int] = SingleFlight()

        async def compute() -> int:
            await asyncio.sleep(0.02)
            return 1

        first = asyncio.create_task(flights.run("k", compute))
        await asyncio.sleep(0)
        waiter = asyncio.create_task(flights.run("k", compute))
        await asyncio.sleep(0.005)
        waiter.cancel()
        assert await first == (1, False)
        with pytest.raises(asyncio.CancelledError):
            await waiter

    asyncio.run(main())
