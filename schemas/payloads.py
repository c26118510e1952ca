"""The three payload shapes of DESIGN.md, with the field names their senders use.

Validation here is structural only; turning a payload into a message (ids, timestamps,
text normalization) happens in `operators.ingest.parse`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, NotRequired

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator, with_config
from typing_extensions import TypedDict  # pydantic needs this one before Python 3.12

from schemas.ids import Identifier, Platform

Timestamp = str | int | float


class _Payload(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", coerce_numbers_to_str=True)


# The nested parts are typed dicts, validated as strictly as models: a model instance
# per part made a Zalo event cost 1.8x as much to validate.
@with_config(ConfigDict(extra="ignore", coerce_numbers_to_str=True))
class ZaloUser(TypedDict):
    id: Annotated[Identifier, Field(examples=["2468000000000000011"])]


@with_config(ConfigDict(extra="ignore", coerce_numbers_to_str=True))
class ZaloMessage(TypedDict):
    msg_id: Annotated[Identifier, Field(examples=["96d3cdf3a1b2"])]
    text: NotRequired[str | None]


class ZaloEvent(_Payload):
    """A Zalo Official Account webhook event (chat events only: user_send_*, oa_send_*)."""

    app_id: str | None = None
    event_name: str = Field(examples=["user_send_text"])
    sender: ZaloUser
    recipient: ZaloUser
    user_id_by_app: str | None = None
    message: ZaloMessage
    timestamp: Timestamp = Field(description="epoch ms, as a string or number")

    @property
    def from_user(self) -> bool:
        return self.event_name.startswith("user_send_")

    @property
    def oa_id(self) -> str:
        return self.recipient["id"] if self.from_user else self.sender["id"]

    @property
    def user_id(self) -> str:
        return self.sender["id"] if self.from_user else self.recipient["id"]


def is_zalo_chat_event(event_name: object) -> bool:
    return isinstance(event_name, str) and event_name.startswith(("user_send_", "oa_send_"))


class WebhookMessage(_Payload):
    """A partner's chat message."""

    id: Identifier
    platform: Platform = "webhook"
    conversation_id: Identifier
    user_id: Identifier
    role: Literal["user", "agent", "bot"] = "user"
    content: str
    timestamp: Timestamp
    idempotency_key: Identifier | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)


class WebhookFeedback(_Payload):
    """A partner's feedback on a message: `score` in [0, 1] or `thumbs` up/down."""

    type: Literal["feedback"]
    id: Identifier
    platform: Platform = "webhook"
    message_id: Identifier
    conversation_id: Identifier
    score: float | None = Field(None, ge=0, le=1)
    thumbs: Literal["up", "down"] | None = None
    timestamp: Timestamp

    @model_validator(mode="after")
    def _one_rating(self) -> WebhookFeedback:
        if (self.score is None) == (self.thumbs is None):
            raise ValueError("exactly one of score and thumbs is required")
        return self

    @property
    def rating(self) -> float:
        if self.score is not None:
            return self.score
        return 1.0 if self.thumbs == "up" else 0.0


class CsvRow(_Payload):
    """One row of a CSV export (columns as in DESIGN.md; empty optional cells are unset)."""

    message_id: Identifier
    conversation_id: Identifier
    user_id: Identifier
    content: str
    timestamp: Timestamp
    platform: Platform = "csv"
    role: Literal["user", "agent", "bot"] = "user"
    idempotency_key: Identifier | None = None

    @model_validator(mode="before")
    @classmethod
    def _clean_columns(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        cleaned = {}
        for key, value in data.items():
            name = str(key).strip().lstrip("\ufeff").lower()
            if isinstance(value, str):
                value = value.strip()
                if value == "" and name in ("platform", "role", "idempotency_key"):
                    continue
            cleaned[name] = value
        return cleaned

    @field_validator("role", mode="before")
    @classmethod
    def _lower_role(cls, value: Any) -> Any:
        return value.lower() if isinstance(value, str) else value
