"""Fuzzing the real service over a loopback socket with cases generated from its own /openapi.json,
on each engine (in-process, and Redis).

Every answer must be no 5xx, of a documented status and content type, with a body and headers
that match the description, and a request the description calls invalid must be refused.
Requests carry valid credentials, so they get past authentication.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings

from push_service.fields import UNSAFE_TEXT
from push_service.openapi import document
from tests.conftest import make_settings
from tests.openapi.conftest import FUZZ_SUMMARY
from tests.openapi.live import LiveService, Roles
from tests.redis_server import RedisServer

MAX_EXAMPLES = 15
# Callbacks the service would accept go to a closed loopback port: never off this machine.
LOCAL_CALLBACK = "https://127.0.0.1:9/fuzz"
CHECKS = [
    schemathesis.checks.not_a_server_error,
    schemathesis.checks.status_code_conformance,
    schemathesis.checks.content_type_conformance,
    schemathesis.checks.response_schema_conformance,
    schemathesis.checks.response_headers_conformance,
    schemathesis.checks.negative_data_rejection,
]
# Credentials come from `credentials` below, never from the generator, so cases get past
# authentication (refusing bad credentials is for each handler's own tests). A body past the
# size limit (413) or too slow (408) is refused too. Reports hide only the Authorization header,
# so a failing Idempotency-Key shows as it was sent.
REFUSALS = ["400", "401", "403", "404", "405", "408", "409", "413", "415", "422", "429"]
CONFIG = schemathesis.Config.from_dict(
    {
        "generation": {"with-security-parameters": False},
        "checks": {"negative_data_rejection": {"expected-statuses": REFUSALS}},
        "output": {
            "sanitization": {
                "keys-to-sanitize": ["authorization"],
                "sensitive-markers": ["password"],
            }
        },
    }
)
# The description as served: test_document proves /openapi.json serves exactly this.
schema = schemathesis.openapi.from_dict(document(make_settings()), config=CONFIG)
# A 204 from these, given our own id (seen in an earlier answer), takes our credentials away.
TAKES_CREDENTIALS = {
    ("DELETE", "/v1/admin/apps/{app_id}"),
    ("DELETE", "/v1/admin/devices/{device_id}"),
}


class Tally:
    """What the fuzzer sent on one engine: cases per operation and answers per status."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.statuses: Counter[int] = Counter()
        self.operations: Counter[str] = Counter()

    def add(self, label: str, status: int) -> None:
        self.operations[label] += 1
        self.statuses[status] += 1

    def summary(self) -> str:
        took = time.monotonic() - self.started
        statuses = ", ".join(f"{s}: {n}" for s, n in sorted(self.statuses.items()))
        return (
            f"{sum(self.operations.values())} cases over "
            f"{len(self.operations)} operations in {took:.1f} s ({statuses})"
        )


@pytest.fixture(scope="module")
def redis_url(redis_server: RedisServer) -> str:
    return redis_server.url


@pytest.fixture(scope="module", params=["memory", "redis"])
def live(request: pytest.FixtureRequest) -> Iterator[LiveService]:
    """The service on each engine: in-process, and Redis (a server started for these tests)."""
    limits = {"PUSH_MAX_PENDING": "5", "PUSH_RATE_LIMIT": "50"}
    if request.param == "redis":
        limits["PUSH_REDIS_URL"] = request.getfixturevalue("redis_url")
    with LiveService(**limits) as service:
        yield service


@pytest.fixture(scope="module")
def roles(live: LiveService) -> Iterator[Roles]:
    with requests.Session() as http:
        made = Roles(live.base_url, http)
        made.provision()
        yield made


@pytest.fixture(scope="module")
def tally(request: pytest.FixtureRequest, live: LiveService) -> Iterator[Tally]:
    counted = Tally()
    yield counted
    engine = "redis" if live.settings.redis_url else "memory"
    request.config.stash.setdefault(FUZZ_SUMMARY, []).append(f"{engine}: {counted.summary()}")
    assert counted.operations, "the fuzzer sent nothing"


def credentials(case: Any, roles: Roles) -> dict[str, str]:
    """The header for the operation's first security requirement (a fresh device token each
    time, from a phone of its own for self-revocation); none for open operations."""
    security = case.operation.definition.raw.get("security", [])
    if not security:
        return {}
    throwaway = case.method.upper() == "DELETE" and case.path == "/v1/devices/me"
    return roles.headers(next(iter(security[0])), throwaway=throwaway)


def keep_callbacks_local(case: Any) -> None:
    """Point any callback URL the service would accept at loopback, so nothing leaves the host."""
    body = case.body
    if not isinstance(body, dict) or not isinstance(body.get("callback_url"), str):
        return
    url = body["callback_url"]
    acceptable = 0 < len(url) <= 2048 and not UNSAFE_TEXT.search(url)
    if acceptable and url.lower().startswith("https://"):
        body["callback_url"] = LOCAL_CALLBACK


def keep_waits_short(case: Any) -> None:
    """A long-poll the service would accept waits one second at most, to bound the run."""
    wait = case.query.get("wait") if isinstance(case.query, dict) else None
    if str(wait).isascii() and str(wait).isdigit() and 1 <= int(str(wait)) <= 60:
        case.query["wait"] = 1


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_answer_conforms_to_the_description(
    case: Any, live: LiveService, roles: Roles, tally: Tally
) -> None:
    headers = credentials(case, roles)
    keep_callbacks_local(case)
    keep_waits_short(case)
    response = case.call(base_url=live.base_url, headers=headers, timeout=10)
    tally.add(case.operation.label, response.status_code)
    if (case.method.upper(), case.path) in TAKES_CREDENTIALS and response.status_code == 204:
        roles.provision()
    case.validate_response(response, checks=CHECKS, headers=headers)
