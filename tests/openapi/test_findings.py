"""Inputs the fuzzer and the probes around it found answered with a 5xx or against the
description. Sent over a real socket, as a client would send them (header bytes as Latin-1)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from tests.conftest import ADMIN
from tests.openapi.live import TIMEOUT, LiveService, Roles


@pytest.fixture(scope="module")
def live() -> Iterator[LiveService]:
    with LiveService() as service:
        yield service


@pytest.fixture(scope="module")
def roles(live: LiveService) -> Iterator[Roles]:
    with requests.Session() as http:
        made = Roles(live.base_url, http)
        made.provision()
        yield made


def refusal(response: requests.Response) -> tuple[int, str | None]:
    """The status and the error code (None when the body is no error)."""
    assert response.headers["Content-Type"].startswith("application/json"), response.text
    error = response.json().get("error")
    return response.status_code, error["code"] if isinstance(error, dict) else None


@pytest.mark.parametrize(
    "path",
    [
        "/v1/challenges/ch_x?wait=²",
        *(f"/v1/admin/{p}?limit=²" for p in ("challenges", "webhooks", "audit")),
    ],
)
def test_a_digit_that_int_cannot_read_is_a_bad_request(roles: Roles, path: str) -> None:
    """'²'.isdigit() is true but int('²') raises: edge.int_query must check `raw.isascii()`."""
    response = roles.http.get(roles.base_url + path, headers=ADMIN, timeout=TIMEOUT)
    assert refusal(response) == (400, "invalid_request")


@pytest.mark.parametrize("path", ["/v1/admin/apps", "/v1/enrollments"])
def test_a_bearer_that_is_not_utf8_is_unauthorized(roles: Roles, path: str) -> None:
    """A Latin-1 byte in the credential reaches same_secret/hash_secret as a lone surrogate, whose
    UTF-8 encoding raises; edge.bearer must refuse what is not ASCII."""
    headers = {"Authorization": "Bearer caf\xe9"}
    response = roles.http.post(roles.base_url + path, json={}, headers=headers, timeout=TIMEOUT)
    assert refusal(response) == (401, "unauthorized")


@pytest.mark.parametrize("key", ["a\x9fb", "\xd7\xf8\x9b", "caf\xe9"])
def test_an_idempotency_key_outside_visible_ascii_is_a_bad_request(roles: Roles, key: str) -> None:
    """Found by the fuzzer: C1 controls and other non-UTF-8 bytes pass `_idempotency_key` (the
    check sees surrogates, not the bytes), and the Redis engine then fails to encode the key."""
    headers = {**roles.app["headers"], "Idempotency-Key": key}
    body = {"user_id": "alice"}
    url = roles.base_url + "/v1/challenges"
    response = roles.http.post(url, json=body, headers=headers, timeout=TIMEOUT)
    assert refusal(response) == (400, "invalid_request")
