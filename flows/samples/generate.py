"""Generate realistic raw chat streams with known ground truth.

    python -m flows.samples.generate --events 1000000 --out /tmp/stream.jsonl

The stream mixes Zalo OA events, partner webhooks and CSV rows over several tenants, with
duplicates (redeliveries, partner retries, CSV twins of Zalo messages), events shuffled
within the lateness bound, stragglers far behind, malformed and non-message inputs,
feedback, PII, and the same message ids in two tenants. `Expected` says where every line
must end.
"""

from __future__ import annotations

import argparse
import random
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson

BASE_MS = 1_714_532_400_000  # 2024-05-01T03:00:00Z
TENANTS = ("acme", "globex", "initech")
USER_LINES = (
    "Xin chào shop, em muốn hỏi về đơn hàng {order} ạ",
    "Đơn {order} của em sao chưa giao vậy shop?",
    "Cho mình hỏi phí ship ra Hà Nội bao nhiêu?",
    "Em muốn đổi size áo từ M sang L được không ạ",
    "Số điện thoại của em là {phone}, shop gọi lại giúp em",
    "Tôi muốn hủy đơn hàng {order} vì giao quá chậm",
    "Hi, I want to cancel my order {order}",
    "Can I change the delivery address to District 3?",
    "My email is {email}, please send the invoice there",
    "Shop ơi còn hàng màu đen không?",
    "Áo bị lỗi đường may thì có được hoàn tiền không",
    "Giá 1.500.000đ đã gồm VAT chưa shop?",
)
AGENT_LINES = (
    "Dạ chào anh/chị, shop có thể giúp gì ạ?",
    "Dạ đơn {order} đang được giao, dự kiến tới trong hôm nay ạ",
    "Dạ phí ship ra Hà Nội là 30.000đ ạ",
    "Sure, your order {order} has been cancelled.",
    "Sản phẩm được đổi trả trong vòng 7 ngày kể từ khi nhận hàng",
    "Thanks for reaching out! A confirmation email is on its way.",
)
MALFORMED = {
    "not_json": lambda t: _dumps({"source": "webhook", "tenant": t, "payload": {"id": "x"}})[:-9],
    "invalid_schema": lambda t: _dumps(
        {"source": "webhook", "tenant": t, "payload": {"id": "no-content"}}
    ),
    "unknown_source": lambda t: _dumps(
        {"source": "telegram", "tenant": t, "payload": {"text": "hi"}}
    ),
    "unsupported_event": lambda t: _dumps(
        {
            "source": "zalo",
            "tenant": t,
            "payload": {
                "event_name": "user_seen_message",
                "sender": {"id": "1"},
                "recipient": {"id": "2"},
                "timestamp": str(BASE_MS),
            },
        }
    ),
    "empty_text": lambda t: _dumps(
        {
            "source": "webhook",
            "tenant": t,
            "payload": {
                "id": "e-1",
                "conversation_id": "c-0",
                "user_id": "u",
                "content": " \u200b ",
                "timestamp": BASE_MS,
            },
        }
    ),
    "bad_timestamp": lambda t: _dumps(
        {
            "source": "webhook",
            "tenant": t,
            "payload": {
                "id": "t-1",
                "conversation_id": "c-0",
                "user_id": "u",
                "content": "hi",
                "timestamp": "yesterday",
            },
        }
    ),
    "future_event_time": lambda t: _dumps(
        {
            "source": "webhook",
            "tenant": t,
            "received_at": BASE_MS,
            "payload": {
                "id": "f-1",
                "conversation_id": "c-0",
                "user_id": "u",
                "content": "from the future",
                "timestamp": BASE_MS + 3_600_000,
            },
        }
    ),
}


def _dumps(obj: object) -> str:
    return orjson.dumps(obj).decode()


@dataclass
class Expected:
    """Where the lines of a generated stream must end."""

    messages: set[tuple[str, str]] = field(default_factory=set)  # (tenant, message_id)
    duplicates: int = 0
    feedback: int = 0
    rejected: Counter = field(default_factory=Counter)

    @property
    def total(self) -> int:
        return len(self.messages) + self.duplicates + self.feedback + sum(self.rejected.values())


@dataclass
class _Msg:
    tenant: str
    kind: str  # zalo | webhook
    conv: str
    n: int
    event_ms: int
    role: str
    text: str
    line: str = ""
    message_id: str = ""


class StreamGenerator:
    def __init__(
        self, seed: int = 7, lateness_ms: int = 2000, tenants: tuple[str, ...] = TENANTS
    ) -> None:
        self.rand = random.Random(seed)
        self.tenants = tenants
        self.lateness_ms = lateness_ms
        self.expected = Expected()
        self._ids: Counter[str] = Counter()

    def _text(self, role: str) -> str:
        r = self.rand
        template = r.choice(USER_LINES if role == "user" else AGENT_LINES)
        return template.format(
            order=f"DH{r.randint(240000000, 249999999)}",
            phone=f"09{r.randint(10000000, 99999999)}",
            email=f"khach{r.randint(1, 9999)}@example.com",
        )

    def _envelope(self, m: _Msg, received_ms: int) -> tuple[str, str]:
        if m.kind == "zalo":
            oa, user = m.conv.split(":")[1:]
            from_user = m.role == "user"
            msg_id = f"{self.rand.getrandbits(64):016x}"
            payload: dict[str, Any] = {
                "app_id": "3608512345678901234",
                "event_name": "user_send_text" if from_user else "oa_send_text",
                "sender": {"id": user if from_user else oa},
                "recipient": {"id": oa if from_user else user},
                "user_id_by_app": f"5521{user[-8:]}",
                "message": {"msg_id": msg_id, "text": m.text},
                "timestamp": str(m.event_ms),
            }
            env = {
                "source": "zalo",
                "tenant": m.tenant,
                "received_at": received_ms,
                "payload": payload,
            }
            return _dumps(env), f"zalo:{msg_id}"
        self._ids[m.tenant] += 1
        msg_id = f"m-{self._ids[m.tenant]}"
        payload = {
            "id": msg_id,
            "platform": "shopee",
            "conversation_id": m.conv,
            "user_id": "u-1",
            "role": m.role,
            "content": m.text,
            "timestamp": m.event_ms / 1000 if self.rand.random() < 0.5 else m.event_ms,
            "idempotency_key": f"idem-{m.tenant}-{msg_id}",
        }
        env = {
            "source": "webhook",
            "tenant": m.tenant,
            "received_at": received_ms,
            "payload": payload,
        }
        return _dumps(env), f"shopee:{msg_id}"

    def lines(self, events: int, conversations: int = 2000) -> Iterator[str]:
        """About `events` lines in arrival order."""
        r = self.rand
        clocks = {}
        convs = []
        for i in range(conversations):
            tenant = self.tenants[i % len(self.tenants)]
            kind = "zalo" if i % 2 else "webhook"
            conv = f"zalo:3886{i:015d}:2468{i:015d}" if kind == "zalo" else f"c-{i}"
            convs.append((tenant, kind, conv))
            clocks[conv] = BASE_MS - r.randint(0, 60_000)
        window: list[tuple[int, str]] = []  # (arrival key, line) shuffled within lateness
        produced = 0
        now = BASE_MS
        while produced < events:
            now += r.randint(1, 40)
            tenant, kind, conv = r.choice(convs)
            clocks[conv] = max(clocks[conv] + 1, now - r.randint(0, 3000))
            role = "user" if r.random() < 0.6 else "agent"
            m = _Msg(tenant, kind, conv, 0, clocks[conv], role, self._text(role))
            line, message_id = self._envelope(m, received_ms=now)
            self.expected.messages.add((tenant, message_id))
            roll = r.random()
            arrival = now + (r.randint(0, self.lateness_ms // 2) if roll < 0.10 else 0)
            if roll > 0.995:  # straggler far behind the watermark
                arrival = now + 60_000
            window.append((arrival, line))
            produced += 1
            dup_roll = r.random()
            if dup_roll < 0.03:  # redelivery of the same line
                window.append((arrival + r.randint(1, 5000), line))
                self.expected.duplicates += 1
                produced += 1
            elif dup_roll < 0.04 and kind == "zalo":  # CSV export twin
                zid = message_id.split(":", 1)[1]
                row = {
                    "message_id": zid,
                    "conversation_id": conv,
                    "user_id": "x",
                    "content": m.text,
                    "timestamp": str(m.event_ms),
                    "platform": "zalo",
                }
                window.append(
                    (arrival + 30_000, _dumps({"source": "csv", "tenant": tenant, "payload": row}))
                )
                self.expected.duplicates += 1
                produced += 1
            elif dup_roll < 0.05 and kind == "webhook":  # partner retry: new id, same key
                retry = orjson.loads(line)
                retry["payload"]["id"] += "-retry"
                window.append((arrival + 1500, _dumps(retry)))
                self.expected.duplicates += 1
                produced += 1
            extra = r.random()
            if extra < 0.01:
                reason = r.choice(sorted(MALFORMED))
                window.append((now, MALFORMED[reason](tenant)))
                self.expected.rejected[reason] += 1
                produced += 1
            elif extra < 0.015:
                fb = {
                    "type": "feedback",
                    "id": f"f-{produced}",
                    "message_id": "m-1",
                    "conversation_id": conv,
                    "thumbs": r.choice(("up", "down")),
                    "timestamp": now,
                }
                window.append(
                    (
                        now,
                        _dumps(
                            {
                                "source": "webhook",
                                "tenant": tenant,
                                "received_at": now,
                                "payload": fb,
                            }
                        ),
                    )
                )
                self.expected.feedback += 1
                produced += 1
            if len(window) > 256:
                window.sort(key=lambda a: a[0])
                cut = len(window) // 2
                for _, out in window[:cut]:
                    yield out
                del window[:cut]
        window.sort(key=lambda a: a[0])
        for _, out in window:
            yield out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--conversations", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    gen = StreamGenerator(seed=args.seed)
    with open(args.out, "w", encoding="utf-8") as f:
        for line in gen.lines(args.events, args.conversations):
            f.write(line + "\n")
    e = gen.expected
    print(
        f"wrote {e.total} lines: {len(e.messages)} messages, {e.duplicates} duplicates, "
        f"{e.feedback} feedback, {sum(e.rejected.values())} rejected"
    )


if __name__ == "__main__":
    main()
