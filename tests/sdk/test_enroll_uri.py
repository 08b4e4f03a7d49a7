"""Enrollment URIs: good ones parse, bad ones are refused with a clear error."""

from __future__ import annotations

import pytest

from client_sdk import EnrollmentURIError, parse_enrollment_uri

GOOD = (
    "pushapproval://enroll?code=Zm9vYmFyYmF6cXV4&url=https%3A%2F%2Fpush.example.com%2F"
    "&issuer=push-approval"
)


def test_good_uri_gives_code_url_and_issuer() -> None:
    parsed = parse_enrollment_uri(GOOD)
    assert parsed.code == "Zm9vYmFyYmF6cXV4"
    assert parsed.url == "https://push.example.com"
    assert parsed.issuer == "push-approval"
    assert not parsed.insecure


def test_unknown_parameters_are_ignored_and_order_does_not_matter() -> None:
    parsed = parse_enrollment_uri(
        "pushapproval://enroll?issuer=i&future=1&url=http://127.0.0.1:8080/prefix&code=c"
    )
    assert (parsed.code, parsed.url, parsed.issuer) == ("c", "http://127.0.0.1:8080/prefix", "i")


def test_plain_http_to_a_non_loopback_host_is_flagged_insecure() -> None:
    assert parse_enrollment_uri(
        "pushapproval://enroll?code=c&url=http://push.lan&issuer=i"
    ).insecure
    assert not parse_enrollment_uri(
        "pushapproval://enroll?code=c&url=http://localhost:8080&issuer=i"
    ).insecure


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("https://enroll?code=c&url=https://x&issuer=i", "must start with"),
        ("pushapproval://pair?code=c&url=https://x&issuer=i", "expected"),
        ("pushapproval://enroll/extra?code=c&url=https://x&issuer=i", "expected"),
        ("pushapproval://enroll?url=https://x&issuer=i", "code"),
        ("pushapproval://enroll?code=&url=https://x&issuer=i", "code"),
        ("pushapproval://enroll?code=c&issuer=i", "url"),
        ("pushapproval://enroll?code=c&url=https://x", "issuer"),
        ("pushapproval://enroll?code=c&code=d&url=https://x&issuer=i", "repeats"),
        ("pushapproval://enroll?code=c&url=ftp://x&issuer=i", "not an http"),
        ("pushapproval://enroll?code=c&url=https://&issuer=i", "not an http"),
        ("pushapproval://enroll?code=c&url=https://x?q=1&issuer=i", "not an http"),
        ("pushapproval://enroll?code=c&url=https://x&issuer=i#frag", "fragment"),
        ("", "must start with"),
    ],
)
def test_bad_uri_is_refused_with_a_clear_error(uri: str, message: str) -> None:
    with pytest.raises(EnrollmentURIError, match=message):
        parse_enrollment_uri(uri)
