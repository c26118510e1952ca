"""One audit record per redacted PII value, for the flow's audit sink."""

from __future__ import annotations

from pydantic import Field

from schemas.wire import JsonRecord


class PiiAudit(JsonRecord):
    """Where a value of which kind was redacted, and a keyed hash of it; never the value."""

    message_id: str = Field(
        description="Id of the message the value was in.", examples=["zalo:96d3cdf3"]
    )
    kind: str = Field(description="PII kind.", examples=["phone"])
    start: int = Field(
        ge=0, description="Offset of the value in the text before redaction.", examples=[4]
    )
    end: int = Field(
        ge=0,
        description="Offset just past the value in the text before redaction.",
        examples=[16],
    )
    value_hmac: str = Field(
        description="Hex HMAC-SHA256 of the value in canonical form (see operators.pii.audit).",
        examples=["9f2c…"],
    )
    key_id: str = Field(
        description="Short id of the HMAC key, so records survive a key rotation.",
        examples=["3b1f0c2a9d4e"],
    )

    @property
    def key(self) -> str:
        return self.message_id
