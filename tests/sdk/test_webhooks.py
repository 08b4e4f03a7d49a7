"""Standard Webhooks verification of the service's callbacks."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os

import pytest

from client_sdk import WebhookVerificationError, verify_webhook

KEY = os.urandom(24)
SECRET = "whsec_" + base64.b64encode(KEY).decode()
NOW = 1_790_000_000
BODY = json.dumps({"type": "challenge.approved", "data": {"challenge_id": "ch_1"}}).encode()


def _signature(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def _headers(signature: str, timestamp: int = NOW, msg_id: str = "msg_1") -> dict[str, str]:
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature,
    }


def test_correct_signature_is_accepted_and_payload_returned() -> None:
    headers = _headers(_signature(KEY, "msg_1", NOW, BODY))
    payload = verify_webhook(SECRET, headers, BODY, now=NOW)
    assert payload["type"] == "challenge.approved"


def test_header_names_are_matched_whatever_their_case() -> None:
    headers = {k.title(): v for k, v in _headers(_signature(KEY, "msg_1", NOW, BODY)).items()}
    assert verify_webhook(SECRET, headers, BODY, now=NOW)["data"] == {"challenge_id": "ch_1"}


def test_tampered_body_is_refused() -> None:
    headers = _headers(_signature(KEY, "msg_1", NOW, BODY))
    with pytest.raises(WebhookVerificationError, match="signature"):
        verify_webhook(SECRET, headers, BODY.replace(b"approved", b"denied__"), now=NOW)


def test_changed_webhook_id_is_refused() -> None:
    headers = _headers(_signature(KEY, "msg_1", NOW, BODY), msg_id="msg_2")
    with pytest.raises(WebhookVerificationError):
        verify_webhook(SECRET, headers, BODY, now=NOW)


def test_wrong_secret_is_refused() -> None:
    headers = _headers(_signature(os.urandom(24), "msg_1", NOW, BODY))
    with pytest.raises(WebhookVerificationError, match="signature"):
        verify_webhook(SECRET, headers, BODY, now=NOW)


@pytest.mark.parametrize("age", [301, -301, 10_000])
def test_timestamp_outside_the_tolerance_is_refused(age: int) -> None:
    sent = NOW - age
    headers = _headers(_signature(KEY, "msg_1", sent, BODY), timestamp=sent)
    with pytest.raises(WebhookVerificationError, match="timestamp"):
        verify_webhook(SECRET, headers, BODY, now=NOW)


def test_timestamp_within_the_tolerance_is_accepted() -> None:
    sent = NOW - 299
    headers = _headers(_signature(KEY, "msg_1", sent, BODY), timestamp=sent)
    assert verify_webhook(SECRET, headers, BODY, now=NOW)


def test_one_matching_signature_among_several_is_enough() -> None:
    wrong = _signature(os.urandom(24), "msg_1", NOW, BODY)
    right = _signature(KEY, "msg_1", NOW, BODY)
    headers = _headers(f"v1,bm90LWl0 {wrong} v2,whatever {right}")
    assert verify_webhook(SECRET, headers, BODY, now=NOW)


def test_any_of_several_secrets_may_have_signed() -> None:
    other = "whsec_" + base64.b64encode(os.urandom(24)).decode()
    headers = _headers(_signature(KEY, "msg_1", NOW, BODY))
    assert verify_webhook([other, SECRET], headers, BODY, now=NOW)


def test_signature_of_another_scheme_is_not_accepted() -> None:
    headers = _headers(_signature(KEY, "msg_1", NOW, BODY).replace("v1,", "v1a,"))
    with pytest.raises(WebhookVerificationError):
        verify_webhook(SECRET, headers, BODY, now=NOW)


def test_missing_headers_are_refused() -> None:
    with pytest.raises(WebhookVerificationError, match="missing"):
        verify_webhook(SECRET, {"webhook-id": "msg_1"}, BODY, now=NOW)


def test_malformed_secret_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="whsec_"):
        verify_webhook("whsec_***", _headers("v1,AAAA"), BODY, now=NOW)
