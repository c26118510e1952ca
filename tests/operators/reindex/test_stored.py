"""Stored segments as a reindex reads them back: shards of the UUID space, the language of
an object written before it was stored, and the properties written again."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import orjson
from hypothesis import given
from hypothesis import strategies as st

from operators.reindex.stored import COPIED, Shard, StoredSegment, shards

UUID_SPACE = 1 << 128

counts = st.integers(min_value=1, max_value=64)
tenants = st.from_regex(r"[A-Za-z0-9_-]{1,64}", fullmatch=True)


def tiling(count: int) -> list[Shard]:
    return [Shard("acme", i, count) for i in range(count)]


# --- shards ---------------------------------------------------------------------------


@given(counts)
def test_shards_tile_the_uuid_space(count: int) -> None:
    parts = tiling(count)
    assert parts[0].start == 0
    assert parts[-1].end == UUID_SPACE
    for shard in parts:
        assert shard.start < shard.end
    for before, after in zip(parts, parts[1:], strict=False):
        assert before.end == after.start


@given(counts, st.uuids())
def test_every_uuid_falls_in_exactly_one_shard(count: int, value: uuid.UUID) -> None:
    holding = [s for s in tiling(count) if s.start <= value.int < s.end]
    assert len(holding) == 1


@given(counts, st.sampled_from([0, 1, UUID_SPACE - 1]))
def test_the_ends_of_the_space_fall_in_one_shard(count: int, value: int) -> None:
    assert sum(s.start <= value < s.end for s in tiling(count)) == 1


@given(tenants, st.data())
def test_a_shard_key_round_trips(tenant: str, data: st.DataObject) -> None:
    count = data.draw(counts)
    shard = Shard(tenant, data.draw(st.integers(min_value=0, max_value=count - 1)), count)
    assert Shard.of_key(shard.key) == shard


def test_a_single_shard_is_keyed_by_its_tenant() -> None:
    assert Shard("acme").key == "acme"
    assert Shard.of_key("acme") == Shard("acme", 0, 1)
    assert Shard("acme", 2, 4).key == "acme#2/4"


@given(counts)
def test_first_after_is_the_last_uuid_of_the_shard_before(count: int) -> None:
    parts = tiling(count)
    assert parts[0].first_after() is None
    for before, shard in zip(parts, parts[1:], strict=False):
        after = shard.first_after()
        assert after is not None
        assert after.int == shard.start - 1 == before.end - 1


def test_shards_are_per_tenant_in_tenant_order() -> None:
    assert [s.key for s in shards(["globex", "acme"], 2)] == [
        "acme#0/2",
        "acme#1/2",
        "globex#0/2",
        "globex#1/2",
    ]
    assert [s.key for s in shards(["globex", "acme"], 1)] == ["acme", "globex"]


# --- language -------------------------------------------------------------------------


def stored(**properties: object) -> StoredSegment:
    return StoredSegment(uuid.uuid4(), {"tenant": "acme", **properties})


def test_the_stored_language_wins() -> None:
    seg = stored(language="en", languages=["vi"], text="user: xin chào bạn")
    assert seg.language == "en"


def test_a_single_known_language_in_languages_is_taken() -> None:
    text = "user: hello thank you for your order"
    assert stored(languages=["und", "vi"], text=text).language == "vi"
    assert stored(languages=["vi", "vi"], text=text).language == "vi"
    assert stored(language="", languages=["vi"], text=text).language == "vi"


def test_otherwise_the_lines_are_detected_and_weighted_by_characters() -> None:
    short_vi = "user: xin chào bạn"
    long_en = "agent: hello, thank you for your order, where is it going"
    long_vi = "user: tôi muốn đổi địa chỉ nhận hàng của đơn hàng này"
    assert stored(languages=["vi", "en"], text=f"{short_vi}\n{long_en}").language == "en"
    assert stored(text=f"{long_vi}\nagent: thank you").language == "vi"
    assert stored(languages=None, text="where is my order").language == "en"


def test_the_role_before_a_line_is_not_weighed() -> None:
    # Whole lines tie at 17 characters (the first language would win); the texts after
    # the roles are 10 (vi) and 11 (en) characters.
    assert stored(text="agent: cảm ơn bạn\nuser: where is it").language == "en"


def test_no_language_is_und() -> None:
    assert stored().language == "und"
    assert stored(text="").language == "und"
    assert stored(languages=["und"], text="user: ok 123").language == "und"


@given(
    st.text(max_size=200),
    st.none() | st.lists(st.sampled_from(["vi", "en", "und"]), max_size=4),
)
def test_language_never_raises_on_what_is_stored(text: str, languages: list | None) -> None:
    assert stored(text=text, languages=languages).language in {"vi", "en", "und"}


# --- properties and JSON --------------------------------------------------------------

FIRST = datetime(2024, 5, 1, 3, 0, tzinfo=UTC)
LAST = datetime(2024, 5, 1, 3, 2, 30, 123_000, tzinfo=UTC)


def full() -> StoredSegment:
    return stored(
        conversation_id="c1",
        segment=2_278_000,
        text="user: xin chào bạn",
        message_ids=["m1"],
        message_count=1,
        first_event_time=FIRST,
        last_event_time=LAST,
        languages=["vi"],
        sources=["webhook"],
        language="vi",
        model_version="old",
        indexed_at=FIRST,
        text_folded="user: xin chao ban",
    )


def test_properties_copy_what_is_stored_and_set_the_new_collections_own() -> None:
    props = full().properties("new", 1_714_532_400_500)
    assert set(props) == {*COPIED, "model_version", "indexed_at"}
    assert props["model_version"] == "new"
    assert props["indexed_at"] == datetime(2024, 5, 1, 3, 0, 0, 500_000, tzinfo=UTC)
    assert props["indexed_at"].utcoffset().total_seconds() == 0
    assert props["first_event_time"] == FIRST
    assert props["message_ids"] == ["m1"]
    assert props["language"] == "vi"


def test_properties_leave_out_what_is_not_stored() -> None:
    seg = stored(text="user: where is my order", message_count=None, sources=[])
    props = seg.properties("new", 0)
    assert set(props) == {"tenant", "text", "sources", "language", "model_version", "indexed_at"}
    assert props["language"] == "en"
    assert props["indexed_at"] == datetime(1970, 1, 1, tzinfo=UTC)


def test_to_json_writes_every_copied_field_with_iso_datetimes() -> None:
    decoded = orjson.loads(full().to_json())
    assert set(decoded) == set(COPIED)
    assert datetime.fromisoformat(decoded["first_event_time"]) == FIRST
    assert datetime.fromisoformat(decoded["last_event_time"]) == LAST
    assert decoded["segment"] == 2_278_000


def test_to_json_writes_missing_fields_as_null() -> None:
    decoded = orjson.loads(stored(text="hi").to_json())
    assert decoded["tenant"] == "acme"
    assert decoded["first_event_time"] is None


def test_count_and_text_of_a_sparse_object() -> None:
    seg = stored(message_count=3.0)
    assert (seg.message_count, seg.text) == (3, "")
    assert stored(message_count="3").message_count == 0
