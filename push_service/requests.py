"""Request bodies of the REST API, checked into typed values. Pure: no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .errors import ErrorCode, PushError
from .fields import Fields

USER_ID_MAX = 128


@dataclass(frozen=True, slots=True)
class NewChallenge:
    user_id: str
    context: dict[str, str]
    ttl_seconds: int
    number_matching: bool
    callback_url: str | None

    @classmethod
    def parse(cls, body: Any) -> NewChallenge:
        fields = Fields(
            body, {"user_id", "context", "ttl_seconds", "number_matching", "callback_url"}
        )
        callback = fields.optional_text("callback_url", max_len=2048)
        if callback is not None and not callback.lower().startswith("https://"):
            raise PushError(ErrorCode.CALLBACK_URL_REJECTED, "'callback_url' must be an https URL.")
        return cls(
            user_id=fields.text("user_id", max_len=USER_ID_MAX),
            context=fields.string_map("context", max_items=20, max_len=256),
            ttl_seconds=fields.integer("ttl_seconds", low=10, high=300, default=60),
            number_matching=fields.flag("number_matching", default=True),
            callback_url=callback,
        )


@dataclass(frozen=True, slots=True)
class NewEnrollment:
    user_id: str
    app_ids: tuple[str, ...] | None

    @classmethod
    def parse(cls, body: Any, *, operator: bool) -> NewEnrollment:
        fields = Fields(body, {"user_id", "app_ids"} if operator else {"user_id"})
        return cls(
            user_id=fields.text("user_id", max_len=USER_ID_MAX),
            app_ids=fields.string_list("app_ids", max_items=100),
        )


@dataclass(frozen=True, slots=True)
class NewDevice:
    code: str
    public_key: Any
    name: str
    proof: Any

    @classmethod
    def parse(cls, body: Any) -> NewDevice:
        fields = Fields(body, {"code", "public_key", "name", "proof"})
        return cls(
            code=fields.text("code", max_len=256),
            public_key=fields.raw("public_key"),
            name=fields.optional_text("name", max_len=64) or "device",
            proof=fields.raw("proof"),
        )


@dataclass(frozen=True, slots=True)
class NewKey:
    public_key: Any
    proof: Any

    @classmethod
    def parse(cls, body: Any) -> NewKey:
        fields = Fields(body, {"public_key", "proof"})
        return cls(public_key=fields.raw("public_key"), proof=fields.raw("proof"))


def parse_name(body: Any) -> str:
    return Fields(body, {"name"}).text("name", max_len=128)


def parse_token(body: Any) -> str:
    return Fields(body, {"token"}).text("token", max_len=8192)
