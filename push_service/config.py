"""Configuration: read once, at start, from `PUSH_*` variables into one frozen `Settings`.

Tests build `Settings.from_env({...})` from a plain dict; nothing else reads the environment.
Secrets are wrapped in `Secret`, whose repr never shows the value.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

T = TypeVar("T")


class ConfigError(ValueError):
    """A `PUSH_*` variable holds a value the service cannot run with."""


class Secret:
    """A string that keeps itself out of logs and reprs."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and secrets.compare_digest(self._value, other._value)

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8080
    # Connections the kernel may hold for the service before it accepts them: a 9 a.m. burst
    # of new connections overflows a short queue, and its clients wait out SYN retransmits.
    listen_backlog: int = 4096
    issuer: str = "push-approval"
    public_url: str = ""
    admin_tokens: tuple[Secret, ...] = ()
    admin_token_generated: bool = False
    redis_url: Secret | None = None
    redis_cluster: bool = False
    redis_prefix: str = "push:"
    redis_connections: int = 64
    match_key: Secret | None = None
    enrollment_ttl: int = 600
    match_digits: int = 3
    max_pending: int = 3
    rate_limit: int = 10
    rate_window: int = 600
    max_body_bytes: int = 64 * 1024
    max_json_depth: int = 16
    ws_max_frame: int = 64 * 1024
    ws_auth_timeout: float = 10.0
    ws_heartbeat: float = 20.0
    ws_outbox: int = 64
    max_streams_per_device: int = 5
    ws_frames_per_second: float = 20.0
    ws_frame_burst: int = 40
    max_waits_per_app: int = 1000
    require_number_matching: bool = False
    http_request_timeout: float = 15.0
    max_strikes: int = 5
    max_unapproved: int = 10
    fraud_lock: int = 900
    profile: str = "standard"
    expiry_tick: float = 0.05
    callback_retry_base: float = 1.0
    callback_retry_horizon: float = 3 * 3600.0
    callback_allow_private: bool = False
    callback_ca_file: str | None = None
    webhook_secret_grace: float = 24 * 3600.0
    webhook_concurrency: int = 32
    webhook_per_destination: int = 4
    audit_keep: int = 100_000
    log_level: str = "INFO"
    log_format: str = "text"
    event_loop: str = "auto"
    extra: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)

    @property
    def base_url(self) -> str:
        return self.public_url or f"http://{self.host}:{self.port}"

    @classmethod
    def from_env(cls, env: Mapping[str, str], **overrides: object) -> Settings:
        """Build settings from `PUSH_*` variables; `overrides` (command-line flags) win."""
        reader = _Reader(env)
        tokens: tuple[Secret, ...] = reader.get("PUSH_ADMIN_TOKEN", _token_list, ())
        generated = not tokens
        if generated:
            tokens = (Secret(secrets.token_urlsafe(32)),)
        values: dict[str, object] = {
            "host": reader.get("PUSH_HOST", str, cls.host),
            "port": reader.get("PUSH_PORT", _int_in(0, 65535), cls.port),
            "listen_backlog": reader.get(
                "PUSH_LISTEN_BACKLOG", _int_in(16, 65535), cls.listen_backlog
            ),
            "issuer": reader.get("PUSH_ISSUER", _nonempty, cls.issuer),
            "public_url": reader.get("PUSH_PUBLIC_URL", _url, ""),
            "admin_tokens": tokens,
            "admin_token_generated": generated,
            "redis_url": reader.get("PUSH_REDIS_URL", _optional_secret, None),
            "redis_cluster": reader.get("PUSH_REDIS_CLUSTER", _flag, False),
            "match_key": reader.get("PUSH_MATCH_KEY", _optional_secret, None),
            "redis_prefix": reader.get("PUSH_REDIS_PREFIX", _nonempty, cls.redis_prefix),
            "redis_connections": reader.get(
                "PUSH_REDIS_CONNECTIONS", _int_in(2, 10_000), cls.redis_connections
            ),
            "enrollment_ttl": reader.get(
                "PUSH_ENROLLMENT_TTL", _int_in(60, 86400), cls.enrollment_ttl
            ),
            "rate_window": reader.get("PUSH_RATE_WINDOW", _int_in(1, 86400), cls.rate_window),
            "max_streams_per_device": reader.get(
                "PUSH_MAX_STREAMS_PER_DEVICE", _int_in(1, 100), cls.max_streams_per_device
            ),
            "ws_frames_per_second": reader.get(
                "PUSH_WS_FRAMES_PER_SECOND", _float_in(0.1, 10000.0), cls.ws_frames_per_second
            ),
            "ws_frame_burst": reader.get(
                "PUSH_WS_FRAME_BURST", _int_in(1, 100000), cls.ws_frame_burst
            ),
            "http_request_timeout": reader.get(
                "PUSH_HTTP_REQUEST_TIMEOUT", _float_in(0.5, 600.0), cls.http_request_timeout
            ),
            "max_waits_per_app": reader.get(
                "PUSH_MAX_WAITS_PER_APP", _int_in(1, 1_000_000), cls.max_waits_per_app
            ),
            "callback_retry_base": reader.get(
                "PUSH_CALLBACK_RETRY_BASE", _float_in(0.01, 60.0), cls.callback_retry_base
            ),
            "callback_retry_horizon": reader.get(
                "PUSH_CALLBACK_RETRY_HORIZON",
                _float_in(1.0, 7 * 86400.0),
                cls.callback_retry_horizon,
            ),
            "callback_allow_private": reader.get("PUSH_CALLBACK_ALLOW_PRIVATE", _flag, False),
            "callback_ca_file": reader.get("PUSH_CALLBACK_CA_FILE", _readable_file, None),
            "webhook_concurrency": reader.get(
                "PUSH_WEBHOOK_CONCURRENCY", _int_in(1, 1000), cls.webhook_concurrency
            ),
            "webhook_per_destination": reader.get(
                "PUSH_WEBHOOK_PER_DESTINATION", _int_in(1, 1000), cls.webhook_per_destination
            ),
            "webhook_secret_grace": reader.get(
                "PUSH_WEBHOOK_SECRET_GRACE", _float_in(0.0, 30 * 86400.0), cls.webhook_secret_grace
            ),
            "audit_keep": reader.get("PUSH_AUDIT_KEEP", _int_in(100, 10_000_000), cls.audit_keep),
            "log_level": reader.get("PUSH_LOG_LEVEL", _log_level, cls.log_level),
            "log_format": reader.get("PUSH_LOG_FORMAT", _choice("text", "json"), cls.log_format),
            "event_loop": reader.get(
                "PUSH_EVENT_LOOP", _choice("auto", "uvloop", "asyncio"), cls.event_loop
            ),
            "extra": dict(env),
        }
        profile = reader.get("PUSH_PROFILE", _choice("standard", "strict"), cls.profile)
        values["profile"] = profile
        if profile == "strict":
            values.update(STRICT_PROFILE)
        values.update(reader.explicit(_FATIGUE_VARIABLES, values))
        values.update({k: v for k, v in overrides.items() if v is not None})
        if values["redis_cluster"] and values["redis_url"] is None:
            raise ConfigError("PUSH_REDIS_CLUSTER=1 needs PUSH_REDIS_URL (one of the nodes)")
        return cls(**values)  # type: ignore[arg-type]  # keys match the fields above


class _Reader:
    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = env

    def get(self, name: str, parse: Callable[[str], T], default: T) -> T:
        raw = self._env.get(name)
        if raw is None or raw == "":
            return default
        try:
            return parse(raw)
        except ValueError as exc:
            raise ConfigError(f"{name}={raw!r} is not usable: {exc}") from None

    def explicit(
        self,
        variables: Mapping[str, tuple[str, Callable[[str], object]]],
        current: Mapping[str, object],
    ) -> dict[str, object]:
        """The settings among `variables` that the environment sets explicitly."""
        return {
            field_name: self.get(name, parse, current.get(field_name))
            for name, (field_name, parse) in variables.items()
            if self._env.get(name)
        }


def _int_in(low: int, high: int) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        return _in_range(int(raw), low, high)

    return parse


def _float_in(low: float, high: float) -> Callable[[str], float]:
    def parse(raw: str) -> float:
        return _in_range(float(raw), low, high)

    return parse


def _in_range(value: T, low: float, high: float) -> T:
    if not low <= value <= high:  # type: ignore[operator]
        raise ValueError(f"must be between {low} and {high}")
    return value


def _nonempty(raw: str) -> str:
    if not raw.strip():
        raise ValueError("must not be blank")
    return raw.strip()


def _url(raw: str) -> str:
    if not raw.startswith(("http://", "https://")):
        raise ValueError("must start with http:// or https://")
    return raw.rstrip("/")


def _readable_file(raw: str) -> str:
    if not os.path.isfile(raw) or not os.access(raw, os.R_OK):
        raise ValueError("must be the path of a readable file")
    return raw


def _token_list(raw: str) -> tuple[Secret, ...]:
    tokens = tuple(Secret(t.strip()) for t in raw.split(",") if t.strip())
    if any(len(t.reveal()) < 16 for t in tokens):
        raise ValueError("each admin token needs at least 16 characters")
    return tokens


def _optional_secret(raw: str) -> Secret | None:
    return Secret(raw)


def _flag(raw: str) -> bool:
    if raw.lower() in {"1", "true", "yes", "on"}:
        return True
    if raw.lower() in {"0", "false", "no", "off"}:
        return False
    raise ValueError("must be 1 or 0")


def _log_level(raw: str) -> str:
    level = raw.upper()
    if level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
        raise ValueError("must be DEBUG, INFO, WARNING or ERROR")
    return level


def _choice(*options: str) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        if raw not in options:
            raise ValueError(f"must be one of {', '.join(options)}")
        return raw

    return parse


# NIST SP 800-63B-4 out-of-band push: six-digit number matching, a cap on pushes without an
# approval, and consecutive failures counted; a variable set explicitly still wins.
STRICT_PROFILE: dict[str, object] = {
    "match_digits": 6,
    "max_pending": 1,
    "max_strikes": 3,
    "max_unapproved": 5,
    "rate_limit": 5,
    "fraud_lock": 3600,
    "require_number_matching": True,
}


_FATIGUE_VARIABLES: dict[str, tuple[str, Callable[[str], object]]] = {
    "PUSH_MATCH_DIGITS": ("match_digits", _int_in(2, 6)),
    "PUSH_MAX_PENDING": ("max_pending", _int_in(1, 100)),
    "PUSH_RATE_LIMIT": ("rate_limit", _int_in(1, 10000)),
    "PUSH_MAX_STRIKES": ("max_strikes", _int_in(1, 1000)),
    "PUSH_MAX_UNAPPROVED": ("max_unapproved", _int_in(1, 100000)),
    "PUSH_FRAUD_LOCK": ("fraud_lock", _int_in(0, 7 * 86400)),
    "PUSH_REQUIRE_NUMBER_MATCHING": ("require_number_matching", _flag),
}
