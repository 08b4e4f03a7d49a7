"""/openapi.json: served to anyone, a valid OpenAPI 3.1 document, and consistent with itself and
with the service's own tables of error codes, statuses and states."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import jsonschema_rs
import pytest
from schemathesis.specs.openapi.definitions import OPENAPI_31_VALIDATOR

from push_service.errors import HTTP_STATUS, ErrorCode
from push_service.lifecycle import WEBHOOK_TYPES
from push_service.models import DeliveryState, Reason, Status
from push_service.openapi import document
from tests.conftest import Client, make_settings

DESCRIPTION = document(make_settings())
METHODS = {"get", "post", "put", "patch", "delete"}


def operations() -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in DESCRIPTION["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield method.upper(), path, operation


def schemas(value: Any) -> Iterator[dict[str, Any]]:
    """Every JSON Schema in the document: components, parameters, bodies and responses."""
    if isinstance(value, dict):
        if isinstance(value.get("schema"), dict):
            yield value["schema"]
        for child in value.values():
            yield from schemas(child)
    elif isinstance(value, list):
        for child in value:
            yield from schemas(child)


def refs(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        if isinstance(value.get("$ref"), str):
            yield value["$ref"]
        for child in value.values():
            yield from refs(child)
    elif isinstance(value, list):
        for child in value:
            yield from refs(child)


async def test_it_is_served_without_credentials(client: Client) -> None:
    response = await client.get("/openapi.json")
    assert response.status == 200
    assert response.content_type == "application/json"
    served = await response.json()
    assert served == DESCRIPTION  # the client fixture serves make_settings()


async def test_it_names_this_instance_as_its_server(client: Client) -> None:
    served = await (await client.get("/openapi.json")).json()
    assert served["servers"] == [{"url": make_settings().base_url}]


def test_it_is_a_valid_openapi_3_1_document() -> None:
    errors = [str(error) for error in OPENAPI_31_VALIDATOR.iter_errors(DESCRIPTION)]
    assert not errors


def test_every_schema_in_it_is_a_valid_json_schema() -> None:
    found = [*DESCRIPTION["components"]["schemas"].values(), *schemas(DESCRIPTION["paths"])]
    assert len(found) > 50
    for schema in found:
        jsonschema_rs.meta.validate(schema)


def test_every_reference_leads_somewhere() -> None:
    for ref in refs(DESCRIPTION):
        assert ref.startswith("#/components/schemas/"), ref
        assert ref.rsplit("/", 1)[1] in DESCRIPTION["components"]["schemas"], ref


def test_the_error_schema_lists_every_error_code() -> None:
    code = DESCRIPTION["components"]["schemas"]["Error"]["properties"]["error"]["properties"]
    assert code["code"]["enum"] == [c.value for c in ErrorCode]


def error_codes(operation: dict[str, Any], status: str) -> list[str]:
    response = operation["responses"].get(status)
    if response is None:
        return []
    error = response["content"]["application/json"]["schema"]["properties"]["error"]
    return list(error["properties"]["code"]["enum"])


@pytest.mark.parametrize(("method", "path", "operation"), list(operations()))
def test_each_error_response_names_codes_of_its_own_status(
    method: str, path: str, operation: dict[str, Any]
) -> None:
    for status in operation["responses"]:
        if int(status) >= 400:
            codes = error_codes(operation, status)
            assert codes, f"{method} {path} {status}"
            assert all(HTTP_STATUS[ErrorCode(code)] == int(status) for code in codes)


@pytest.mark.parametrize(("method", "path", "operation"), list(operations()))
def test_each_credential_brings_its_own_refusal(
    method: str, path: str, operation: dict[str, Any]
) -> None:
    schemes = {name for requirement in operation["security"] for name in requirement}
    codes = error_codes(operation, "401")
    assert ("invalid_token" in codes) >= ("deviceToken" in schemes), f"{method} {path}"
    assert ("unauthorized" in codes) == bool(schemes & {"adminToken", "apiKey"}), f"{method} {path}"


def test_the_three_credentials_are_bearer_schemes() -> None:
    schemes = DESCRIPTION["components"]["securitySchemes"]
    assert set(schemes) == {"adminToken", "apiKey", "deviceToken"}
    assert all((s["type"], s["scheme"]) == ("http", "bearer") for s in schemes.values())
    used = {name for _, _, op in operations() for req in op["security"] for name in req}
    assert used == set(schemes)


def test_operations_have_unique_ids_and_declared_tags() -> None:
    ids = [op["operationId"] for _, _, op in operations()]
    assert len(ids) == len(set(ids))
    tags = {tag["name"] for tag in DESCRIPTION["tags"]}
    assert all(set(op["tags"]) <= tags for _, _, op in operations())


@pytest.mark.parametrize(
    ("schema", "member", "values"),
    [
        ("Challenge", "status", [s.value for s in Status]),
        ("Challenge", "reason", [r.value for r in Reason]),
        ("Delivery", "state", [s.value for s in DeliveryState]),
        ("Delivery", "type", list(WEBHOOK_TYPES.values())),
    ],
)
def test_enums_follow_the_code(schema: str, member: str, values: list[str]) -> None:
    found = DESCRIPTION["components"]["schemas"][schema]["properties"][member]["enum"]
    assert found == values


def test_it_describes_the_instance_as_configured() -> None:
    strict = document(make_settings(PUSH_PROFILE="strict"))
    components = strict["components"]["schemas"]
    matching = components["CreateChallenge"]["properties"]["number_matching"]["anyOf"][0]
    assert matching["const"] is True
    assert components["Challenge"]["properties"]["match_number"]["pattern"] == "^[0-9]{6}$"
    assert components["Discovery"]["properties"]["match_digits"]["const"] == 6
