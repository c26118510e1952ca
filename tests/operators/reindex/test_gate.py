"""The parts of the gate that need no Weaviate: the question a segment asks, and how a
result reads."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from operators.reindex.gate import GateResult, TenantCheck, _question
from schemas.segment import Segment, SegmentLine


def test_the_question_is_the_first_user_line() -> None:
    text = "agent: Chào bạn, mình giúp gì được?\nuser: where is my order  \nuser: hello?"
    assert _question(text) == "where is my order"


def test_without_a_user_line_the_question_is_the_first_lines_text() -> None:
    assert _question("bot: Xin chào!\nagent: Bạn cần gì?") == "Xin chào!"


def test_a_text_without_a_question_gives_nothing() -> None:
    assert _question("") == ""
    assert _question("user:   ") == ""
    assert _question("no role here") == ""


lines = st.lists(
    st.tuples(
        st.sampled_from(["user", "agent", "bot"]),
        st.text(st.characters(exclude_characters="\n\r"), min_size=1, max_size=40),
    ),
    min_size=1,
    max_size=6,
)


@given(lines)
def test_the_question_of_a_segment_is_its_first_user_message(roles_texts) -> None:
    segment = Segment(
        "acme",
        "c1",
        1,
        tuple(
            SegmentLine(f"m{i}", role, text, "und", "webhook", i, i)
            for i, (role, text) in enumerate(roles_texts)
        ),
    )
    users = [text for role, text in roles_texts if role == "user"]
    assert _question(segment.text) == (users[0] if users else roles_texts[0][1]).strip()


def result(*checks: TenantCheck) -> GateResult:
    return GateResult("ChatSegment_aaa111", "ChatSegment_bbb222", list(checks))


def test_a_gate_without_failures_passes() -> None:
    gate = result(TenantCheck("acme", 10, 10, questions=5, answered=5, found_own=4))
    assert gate.ok
    assert gate.failures == []
    text = gate.describe()
    assert text.startswith("gate ChatSegment_aaa111 -> ChatSegment_bbb222:")
    assert text.endswith("  passed")
    assert "acme" in text and "5/5" in text


def test_a_failed_gate_names_each_failure_by_tenant() -> None:
    gate = result(
        TenantCheck("acme", 10, 10),
        TenantCheck("globex", 7, 0, failures=["missing from the target"]),
        TenantCheck("initech", 9, 6, failures=["3 of 9 objects missing", "2 objects without"]),
    )
    assert not gate.ok
    assert gate.failures == [
        "tenant globex: missing from the target",
        "tenant initech: 3 of 9 objects missing",
        "tenant initech: 2 objects without",
    ]
    text = gate.describe()
    assert "passed" not in text
    assert [line for line in text.splitlines() if "FAILED" in line] == [
        f"  FAILED {f}" for f in gate.failures
    ]
    assert sum(name in text for name in ("acme", "globex", "initech")) == 3
