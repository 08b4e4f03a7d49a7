"""Standard Webhooks signatures, checked against the third-party `standardwebhooks` verifier."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

import pytest
import standardwebhooks

from push_service.ids import webhook_secret
from push_service.webhooks import signing

BODY = b'{"type":"challenge.approved","data":{"challenge_id":"ch_1"}}'


def test_headers_verify_with_the_reference_library() -> None:
    secret = webhook_secret()
    now = int(time.time())
    headers = signing.headers([secret], "msg_1", now, BODY)
    assert headers["webhook-id"] == "msg_1"
    assert headers["webhook-timestamp"] == str(now)
    assert standardwebhooks.Webhook(secret).verify(BODY, headers)["data"]["challenge_id"] == "ch_1"


def test_signature_is_hmac_sha256_of_id_timestamp_and_body_under_the_decoded_key() -> None:
    key = b"k" * 32
    secret = "whsec_" + base64.b64encode(key).decode()
    expected = hmac.new(key, b"msg_1.1700000000." + BODY, hashlib.sha256).digest()
    assert signing.signature(secret, "msg_1", 1700000000, BODY) == (
        "v1," + base64.b64encode(expected).decode()
    )


def test_each_secret_adds_one_signature_and_either_secret_verifies() -> None:
    old, new = webhook_secret(), webhook_secret()
    headers = signing.headers([new, old], "msg_1", int(time.time()), BODY)
    assert [s[:3] for s in headers["webhook-signature"].split(" ")] == ["v1,", "v1,"]
    for secret in (old, new):
        assert standardwebhooks.Webhook(secret).verify(BODY, headers)


def test_another_secret_does_not_verify() -> None:
    headers = signing.headers([webhook_secret()], "msg_1", int(time.time()), BODY)
    with pytest.raises(standardwebhooks.WebhookVerificationError):
        standardwebhooks.Webhook(webhook_secret()).verify(BODY, headers)


@pytest.mark.parametrize("secret", ["abc", "whsec_", "whsec_not base64!"])
def test_malformed_secrets_are_refused(secret: str) -> None:
    with pytest.raises(ValueError, match=r"."):
        signing.signature(secret, "msg_1", 1, BODY)


def test_signing_needs_a_secret() -> None:
    with pytest.raises(ValueError, match="at least one"):
        signing.headers([], "msg_1", 1, BODY)
