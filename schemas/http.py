"""What every HTTP service answers a refused request with: a status code and
`{"error": <short code>, "detail": <sentence>}`."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class Refused(BaseModel):
    """The body of every refusal."""

    model_config = ConfigDict(frozen=True)

    error: str = Field(examples=["bad_api_key"], description="a short machine-readable code")
    detail: str = Field(description="what was wrong, naming the field or header")


class Refusal(Exception):
    """A request answered with `status` and `Refused(error=reason, detail=detail)`, with
    `Retry-After: <retry_after>` when given."""

    def __init__(
        self, status: int, reason: str, detail: str, *, retry_after: int | None = None
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.reason = reason
        self.detail = detail
        self.retry_after = retry_after

    def body(self) -> dict[str, str]:
        return {"error": self.reason, "detail": self.detail}

    def headers(self) -> dict[str, str] | None:
        return {"Retry-After": str(self.retry_after)} if self.retry_after else None
