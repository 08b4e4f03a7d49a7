"""Checks one real answer against /openapi.json: a documented status, a documented media type,
a body that matches the documented schema, and every header the description says is required."""

from __future__ import annotations

import json
from typing import Any

import jsonschema_rs
from aiohttp import ClientResponse

from push_service.openapi import document
from tests.conftest import make_settings


class Description:
    def __init__(self, described: dict[str, Any] | None = None) -> None:
        self.document = described or document(make_settings())
        self.seen: set[tuple[str, str, int]] = set()

    def response(self, method: str, template: str, status: int) -> dict[str, Any]:
        operation = self.document["paths"][template][method.lower()]
        documented = operation["responses"].get(str(status))
        assert documented is not None, f"{method} {template} answered an undocumented {status}"
        self.seen.add((method.upper(), template, status))
        return dict(documented)

    def check(
        self, method: str, template: str, status: int, headers: Any, media_type: str, body: bytes
    ) -> Any:
        """The parsed body, after checking the answer against the description."""
        documented = self.response(method, template, status)
        for name, header in documented.get("headers", {}).items():
            assert not header.get("required") or name in headers, f"{status} without {name}"
        contents = documented.get("content")
        if contents is None:
            assert body == b"", f"{method} {template} {status} should have no body"
            return None
        assert media_type in contents, f"{method} {template} {status} sent {media_type}"
        if media_type != "application/json":
            return body.decode()
        parsed = json.loads(body)
        self.validate(contents[media_type]["schema"], parsed)
        return parsed

    def validate(self, schema: dict[str, Any], value: Any) -> None:
        root = {**schema, "components": self.document["components"]}
        errors = [str(e) for e in jsonschema_rs.Draft202012Validator(root).iter_errors(value)]
        assert not errors, f"{value} does not match the description: {errors}"

    async def conforms(self, method: str, template: str, response: ClientResponse) -> Any:
        body = await response.read()
        return self.check(
            method, template, response.status, response.headers, response.content_type, body
        )
