"""The rotation of an alias's collections on the real Weaviate: generations, moving the
alias, rolling back, retiring, and what the live index writes to.

Each test has an alias of its own; model versions are short made-up ones.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from weaviate.classes.query import Filter

from operators.index.writer import create_collection
from operators.reindex.registry import (
    REGISTRY,
    RETIRE_DRAIN_S,
    Registry,
    RegistryError,
    generation_of,
)
from tests.integration.aliases import drop_alias


class Clock:
    def __init__(self, now: int = 1_000) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


@pytest.fixture
def alias(weaviate_client) -> Iterator[str]:
    name = f"Rg{uuid.uuid4().hex[:10]}"
    yield name
    drop_alias(weaviate_client, name)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def registry(weaviate_client, alias: str, clock: Clock, sleeps: list[float]) -> Registry:
    return Registry(weaviate_client, alias, clock=clock, sleep=sleeps.append)


def states(registry: Registry) -> dict[str, str]:
    return {e.collection: e.state for e in registry.entries()}


def test_generation_of_a_name() -> None:
    assert generation_of("ChatSegment_aaa111") == 1
    assert generation_of("ChatSegment_aaa111_g2") == 2
    assert generation_of("ChatSegment_aaa111_g12") == 12


# --- building ---------------------------------------------------------------------------


def test_a_build_reuses_the_collection_being_built_for_its_model(registry, alias) -> None:
    first = registry.begin_build("m1")
    assert (first.collection, first.model_version, first.generation, first.state) == (
        f"{alias}_m1",
        "m1",
        1,
        "building",
    )
    assert registry.begin_build("m1") == first
    assert registry.build_name("m1") == (f"{alias}_m1", True)


def test_a_new_generation_is_the_next_name(registry, alias) -> None:
    registry.begin_build("m1")
    second = registry.begin_build("m1", new_generation=True)
    assert (second.collection, second.generation) == (f"{alias}_m1_g2", 2)
    third = registry.begin_build("m1", new_generation=True)
    assert (third.collection, third.generation) == (f"{alias}_m1_g3", 3)
    assert registry.begin_build("m2").collection == f"{alias}_m2"
    assert states(registry) == {
        f"{alias}_m1": "building",
        f"{alias}_m1_g2": "building",
        f"{alias}_m1_g3": "building",
        f"{alias}_m2": "building",
    }


# --- the alias --------------------------------------------------------------------------


def test_pointing_a_missing_alias_creates_it(registry, alias, weaviate_client) -> None:
    built = registry.begin_build("m1").collection
    assert registry.serving() is None
    assert registry.point_alias(built) is None
    assert weaviate_client.alias.get(alias_name=alias).collection == built
    assert states(registry) == {built: "serving"}


def test_pointing_the_alias_elsewhere_puts_the_one_it_left_on_standby(
    registry, alias, clock
) -> None:
    old = registry.begin_build("m1").collection
    registry.point_alias(old)
    new = registry.begin_build("m2").collection
    clock.now = 5_000
    assert registry.point_alias(new) == old
    [left] = [e for e in registry.entries() if e.collection == old]
    assert (left.state, left.left_ms) == ("standby", 5_000)
    assert states(registry)[new] == "serving"
    assert registry.rollback_target() == old


def test_pointing_the_alias_at_a_missing_collection_is_refused(registry, alias) -> None:
    with pytest.raises(RegistryError, match="does not exist"):
        registry.point_alias(f"{alias}_nope")


def test_nothing_to_roll_back_to(registry) -> None:
    with pytest.raises(RegistryError, match="no collection to roll back to"):
        registry.rollback_target()
    registry.point_alias(registry.begin_build("m1").collection)
    registry.begin_build("m2")  # building, never served: not a rollback target
    with pytest.raises(RegistryError):
        registry.rollback_target()


def test_the_rollback_target_is_the_one_the_alias_left_last(registry, alias, clock) -> None:
    a, b, c = (registry.begin_build(m).collection for m in ("m1", "m2", "m3"))
    for at, name in ((1_000, a), (2_000, b), (3_000, c)):
        clock.now = at
        registry.point_alias(name)
    assert registry.rollback_target() == b
    clock.now = 4_000
    registry.point_alias(b)
    assert registry.rollback_target() == c


# --- retiring ---------------------------------------------------------------------------


def test_the_serving_collection_is_never_retired(registry, alias, weaviate_client) -> None:
    serving = registry.begin_build("m1").collection
    registry.point_alias(serving)
    with pytest.raises(RegistryError, match="swap first"):
        registry.retire(serving)
    with pytest.raises(RegistryError, match="no collection"):
        registry.retire(f"{alias}_nope")
    assert weaviate_client.collections.exists(serving)


def test_retiring_one_collection(registry, alias, weaviate_client, sleeps) -> None:
    registry.point_alias(registry.begin_build("m1").collection)
    building = registry.begin_build("m2").collection
    assert registry.retire(building) == [building]
    assert not weaviate_client.collections.exists(building)
    assert building not in states(registry)
    assert sleeps == [RETIRE_DRAIN_S]


def test_retiring_by_grace_deletes_only_standby_collections_past_it(
    registry, alias, clock, sleeps, weaviate_client
) -> None:
    a, b, c = (registry.begin_build(m).collection for m in ("m1", "m2", "m3"))
    for at, name in ((1_000, a), (2_000, b), (8_000, c)):
        clock.now = at
        registry.point_alias(name)  # a left at 2 s, b at 8 s
    building = registry.begin_build("m4").collection

    clock.now = 10_000
    assert registry.retire(grace_s=5) == [a]  # cutoff: 5 s
    assert not weaviate_client.collections.exists(a)
    assert states(registry) == {b: "standby", c: "serving", building: "building"}
    assert sleeps == [RETIRE_DRAIN_S]

    assert registry.retire(grace_s=5) == []  # b left 2 s ago
    assert sleeps == [RETIRE_DRAIN_S]
    clock.now = 13_000
    assert registry.retire(grace_s=5) == [b]
    assert states(registry) == {c: "serving", building: "building"}


# --- what the live index writes to ------------------------------------------------------


def test_in_rotation_are_the_serving_and_registered_collections(
    registry, alias, weaviate_client
) -> None:
    serving = registry.begin_build("m1").collection
    registry.point_alias(serving)
    standby = registry.begin_build("m2").collection
    registry.point_alias(standby)
    registry.point_alias(serving)
    building = registry.begin_build("m3").collection
    unregistered = f"{alias}_m9"
    create_collection(weaviate_client, unregistered)
    weaviate_client.collections.create(f"{alias}_other_name")  # not a versioned name

    assert states(registry)[unregistered] == "unregistered"
    assert f"{alias}_other_name" not in states(registry)
    assert sorted((e.collection, e.model_version) for e in registry.in_rotation()) == [
        (serving, "m1"),
        (standby, "m2"),
        (building, "m3"),
    ]


def test_a_serving_collection_made_before_the_registry_is_registered(
    registry, alias, weaviate_client, clock
) -> None:
    old = f"{alias}_m0"
    create_collection(weaviate_client, old)
    weaviate_client.alias.create(alias_name=alias, target_collection=old)
    assert states(registry) == {old: "serving"}
    new = registry.begin_build("m1").collection
    clock.now = 7_000
    assert registry.point_alias(new) == old
    [entry] = [e for e in registry.entries() if e.collection == old]
    assert (entry.state, entry.left_ms) == ("standby", 7_000)
    assert (old, "m0") in [(e.collection, e.model_version) for e in registry.in_rotation()]


def test_a_collection_deleted_by_hand_and_rebuilt_gets_a_new_record(
    registry, alias, clock, weaviate_client
) -> None:
    first = registry.begin_build("m1").collection
    clock.now = 2_000
    second = registry.begin_build("m1", new_generation=True).collection
    clock.now = 3_000
    registry.point_alias(second)
    clock.now = 4_000
    registry.point_alias(first)  # the second on standby since 4 s
    weaviate_client.collections.delete(second)
    assert second not in states(registry)

    clock.now = 9_000
    rebuilt = registry.begin_build("m1", new_generation=True)
    assert rebuilt.collection == second
    assert (rebuilt.state, rebuilt.created_ms, rebuilt.left_ms) == ("building", 9_000, 0)
    records = weaviate_client.collections.get(REGISTRY).query.fetch_objects(
        filters=Filter.by_property("alias").equal(alias)
        & Filter.by_property("collection").equal(second)
    )
    assert [o.properties["created_ms"] for o in records.objects] == [9_000]
