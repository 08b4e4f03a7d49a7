"""The API's OpenAPI 3.1 description, built from small functions and served at /openapi.json.

It describes what the handlers, `requests.py` and `fields.py` enforce and enforces nothing itself;
tests/openapi hold the two together (routes, request bodies, and fuzzed responses).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from .config import Settings
from .edge import reply, service
from .errors import HTTP_STATUS, ErrorCode
from .fields import UNSAFE_TEXT
from .lifecycle import WEBHOOK_TYPES
from .models import DeliveryState, Reason, Status
from .requests import USER_ID_MAX

Schema = dict[str, Any]

routes = web.RouteTableDef()


@routes.get("/openapi.json")
async def openapi_json(request: web.Request) -> web.Response:
    return reply(document(service(request).settings))


def document(settings: Settings) -> Schema:
    """The whole description, for the service as `settings` configure it."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Push approval service",
            "version": "1",
            "description": "Apps ask, phones answer with signed decisions. Reference: docs/api.md.",
            "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"},
        },
        "servers": [{"url": settings.base_url}],
        "tags": [{"name": name, "description": text} for name, text in TAGS.items()],
        "paths": paths(),
        "components": {"schemas": schemas(settings), "securitySchemes": security_schemes()},
    }


TAGS = {
    "service": "Discovery, health and this description.",
    "enrollment": "Enrolling phones.",
    "devices": "What an enrolled phone calls, with its own signed tokens.",
    "challenges": "What a relying app calls to ask a user for approval.",
    "operator": "Administration, with the admin token.",
    "dashboard": "The operator's web page and its live feed.",
}

# Security: every credential is an HTTP bearer; an empty list means no credential at all.
Security = list[dict[str, list[str]]]
NONE: Security = []
OPERATOR: Security = [{"adminToken": []}]
APP: Security = [{"apiKey": []}]
APP_OR_OPERATOR: Security = [{"apiKey": []}, {"adminToken": []}]
OPERATOR_OR_APP: Security = [{"adminToken": []}, {"apiKey": []}]
DEVICE: Security = [{"deviceToken": []}]


def security_schemes() -> Schema:
    return {
        "adminToken": bearer("An operator's admin token, from PUSH_ADMIN_TOKEN.", "opaque"),
        "apiKey": bearer("A relying app's API key, made by POST /v1/admin/apps.", "opaque"),
        "deviceToken": bearer(
            "A device token: a compact JWS (alg EdDSA, kid = device id) signed by the phone's "
            "key, with iss, aud, iat, exp (at most 300 s after iat) and a single-use jti.",
            "JWS",
        ),
    }


def bearer(description: str, bearer_format: str) -> Schema:
    return {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": bearer_format,
        "description": description,
    }


# Schema building blocks
def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def closed(required: Schema, optional: Schema | None = None, **extra: Any) -> Schema:
    """An object with exactly these members: `required` ones and, maybe, `optional` ones."""
    return {
        "type": "object",
        "properties": {**required, **(optional or {})},
        "required": list(required),
        "additionalProperties": False,
        **extra,
    }


def _escaped(pattern: str) -> str:
    return "".join(c if c == "-" else f"\\u{ord(c):04x}" for c in pattern)


# Fields.text refuses UNSAFE_TEXT's characters; this is its complement, written for JSON Schema.
SAFE_CHAR = "[^" + _escaped(UNSAFE_TEXT.pattern.strip("[]")) + "]"
SAFE_TEXT = f"^{SAFE_CHAR}*$"


def text(max_len: int, min_len: int = 1, **extra: Any) -> Schema:
    """A string as `Fields.text` checks it: a length range and no control or bidi characters."""
    return {
        "type": "string",
        "minLength": min_len,
        "maxLength": max_len,
        "pattern": SAFE_TEXT,
        **extra,
    }


def integer(low: int, high: int | None = None, **extra: Any) -> Schema:
    bounds = {"minimum": low} if high is None else {"minimum": low, "maximum": high}
    return {"type": "integer", **bounds, **extra}


def nullable(schema: Schema) -> Schema:
    return {"anyOf": [schema, {"type": "null"}]}


def optional(schema: Schema) -> Schema:
    """An optional request member: the parsers take `null` as leaving it out."""
    return nullable(schema)


def string(**extra: Any) -> Schema:
    return {"type": "string", **extra}


def array(items: Schema, **extra: Any) -> Schema:
    return {"type": "array", "items": items, **extra}


def enum(values: Any) -> Schema:
    return {"type": "string", "enum": [str(v) for v in values]}


ID = string(minLength=1, pattern="^[A-Za-z0-9_-]+$", description="An opaque, URL-safe id.")
TIME = string(
    format="date-time",
    pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?Z$",
    description="RFC 3339, UTC.",
)
USER_ID = text(USER_ID_MAX, description="The app's own name for the user.")
JWS = string(
    minLength=1,
    maxLength=8192,
    pattern=r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$",
    description="A compact JWS signed with alg EdDSA.",
)
CALLBACK_URL = text(
    2048,
    pattern=f"^[Hh][Tt][Tt][Pp][Ss]://{SAFE_CHAR}*$",
    description="An https URL; unless PUSH_CALLBACK_ALLOW_PRIVATE=1, its host must resolve only "
    "to public addresses (else 400 callback_url_rejected).",
)
CONTEXT = {
    "type": "object",
    "maxProperties": 20,
    "propertyNames": text(64),
    "additionalProperties": text(256, min_len=0),
    "description": "Shown on the phone as given; well-known keys: action, ip, location, browser.",
}


# Components
def schemas(settings: Settings) -> Schema:
    return {
        "Error": error_schema(),
        "Discovery": discovery_schema(settings),
        "Status": closed({"status": string()}),
        "PublicKey": public_key_schema(),
        **request_schemas(settings),
        "App": closed({"app_id": ID, "name": string(), "created_at": TIME}),
        "AppCreated": app_created_schema(),
        "Enrollment": enrollment_schema(),
        "EnrolledDevice": closed({"device_id": ID, "user_id": string(), "issuer": string()}),
        "Device": device_schema(),
        "Challenge": challenge_schema(settings),
        "DeviceChallenge": device_challenge_schema(),
        "ChallengeResult": closed({"challenge_id": ID, "status": enum(Status)}),
        "Delivery": delivery_schema(),
        "AuditEvent": audit_event_schema(),
        "Standing": standing_schema(),
    }


def error_schema() -> Schema:
    body = closed({"code": enum(ErrorCode), "message": string(minLength=1)})
    return closed({"error": body}, description="Every error's body.")


def discovery_schema(settings: Settings) -> Schema:
    return closed(
        {
            "issuer": string(description="The value devices put in their tokens' aud."),
            "version": string(const="1"),
            "base_url": string(),
            "stream_path": string(const="/v1/devices/stream"),
            "algorithms": array(string(const="EdDSA")),
            "match_digits": integer(2, 6, const=settings.match_digits),
        }
    )


def public_key_schema() -> Schema:
    x = string(
        pattern="^[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$",
        description="32 bytes, base64url without padding: a canonical point of Ed25519's "
        "prime-order subgroup (small-order and non-canonical keys are refused).",
    )
    return closed(
        {"kty": string(const="OKP"), "crv": string(const="Ed25519"), "x": x},
        {"kid": {}, "use": {}, "alg": {}},
        description="An Ed25519 public JWK; any other member (such as the private 'd') is refused "
        "with 400 invalid_key.",
    )


def request_schemas(settings: Settings) -> Schema:
    return {
        "CreateApp": closed({"name": text(128)}),
        "CreateEnrollment": closed(
            {"user_id": USER_ID},
            {
                "app_ids": optional(
                    array(string(minLength=1, maxLength=128), minItems=1, maxItems=100)
                )
            },
            description="'app_ids' (operators only; an app sending it gets 400) narrows the "
            "device to these apps; each must exist.",
        ),
        "EnrollDevice": closed(
            {"code": text(256), "public_key": ref("PublicKey"), "proof": JWS},
            {"name": optional(text(64, description="Default: 'device'."))},
            description="'proof' is signed by the new key over {code, iat}.",
        ),
        "RotateKey": closed(
            {"public_key": ref("PublicKey"), "proof": JWS},
            description="'proof' is signed by the new key over {device_id, iat}.",
        ),
        "CreateChallenge": create_challenge_schema(settings),
        "ChallengeResponse": closed(
            {
                "token": text(
                    8192,
                    description="The response token (a device token with cid, "
                    "nonce, decision, and number or fraud).",
                )
            }
        ),
    }


def create_challenge_schema(settings: Settings) -> Schema:
    matching: Schema = {"type": "boolean", "default": True}
    if settings.require_number_matching:
        matching.update(const=True, description="This instance requires number matching.")
    return closed(
        {"user_id": USER_ID},
        {
            "context": optional(CONTEXT),
            "ttl_seconds": optional(
                integer(10, 300, default=60, description="Written as an integer: 60.0 is refused.")
            ),
            "number_matching": optional(matching),
            "callback_url": optional(CALLBACK_URL),
        },
        examples=[{"user_id": "alice", "context": {"action": "Sign in", "ip": "203.0.113.7"}}],
    )


def app_created_schema() -> Schema:
    secret = string(pattern="^whsec_[A-Za-z0-9+/]{32,}={0,2}$")
    return closed(
        {
            "app_id": ID,
            "name": string(),
            "created_at": TIME,
            "api_key": string(minLength=22, description="Shown once; stored only as a hash."),
            "webhook_secret": secret,
        }
    )


def enrollment_schema() -> Schema:
    return closed(
        {
            "enrollment_id": ID,
            "user_id": string(),
            "code": string(minLength=22, description="Single use; expires at expires_at."),
            "uri": string(pattern=r"^pushapproval://enroll\?"),
            "expires_at": TIME,
            "app_ids": nullable(array(ID)),
        }
    )


def device_schema() -> Schema:
    return closed(
        {
            "device_id": ID,
            "name": string(),
            "created_at": TIME,
            "last_seen_at": nullable(TIME),
            "connected": {"type": "boolean"},
            "app_ids": nullable(array(ID)),
        }
    )


def challenge_schema(settings: Settings) -> Schema:
    digits = settings.match_digits
    return closed(
        {
            "challenge_id": ID,
            "app_id": ID,
            "user_id": string(),
            "status": enum(Status),
            "context": {"type": "object", "additionalProperties": string()},
            "number_matching": {"type": "boolean"},
            "created_at": TIME,
            "expires_at": TIME,
        },
        {
            "match_number": string(
                pattern=f"^[0-9]{{{digits}}}$",
                description="Only to the app that made it, while pending: show it to the user.",
            ),
            "decided_at": TIME,
            "device_id": ID,
            "reason": enum(Reason),
            "response_token": string(description="The device's signed answer, as received."),
            "callback_url": string(),
        },
    )


def device_challenge_schema() -> Schema:
    return closed(
        {
            "challenge_id": ID,
            "user_id": string(),
            "app": closed({"app_id": ID, "name": string()}),
            "context": {"type": "object", "additionalProperties": string()},
            "number_matching": {"type": "boolean"},
            "nonce": string(minLength=1),
            "created_at": TIME,
            "expires_at": TIME,
        },
        description="What a phone is shown: never the match number.",
    )


def delivery_schema() -> Schema:
    return closed(
        {
            "delivery_id": ID,
            "app_id": ID,
            "challenge_id": ID,
            "url": string(),
            "type": enum(WEBHOOK_TYPES.values()),
            "state": enum(DeliveryState),
            "attempts": integer(0),
            "created_at": TIME,
            "next_attempt_at": nullable(TIME),
            "last_error": nullable(string()),
            "last_status": nullable(integer(100, 599)),
        }
    )


def audit_event_schema() -> Schema:
    return closed(
        {"event_id": string(minLength=1), "at": TIME, "kind": string(), "actor": string()},
        {
            "app_id": string(),
            "user_id": string(),
            "device_id": string(),
            "challenge_id": string(),
            "source": string(description="The caller's address."),
            "detail": {"type": "object", "additionalProperties": string()},
        },
    )


def standing_schema() -> Schema:
    return closed(
        {
            "user_id": string(),
            "strikes": integer(0),
            "pushes_since_approval": integer(0),
            "locked": {"type": "boolean"},
            "locked_for_seconds": integer(0),
        }
    )


# Responses
MEANING = {
    ErrorCode.INVALID_REQUEST: "the request is malformed or not allowed as sent",
    ErrorCode.INVALID_ENROLLMENT: "the enrollment code is unknown, used, expired or burned",
    ErrorCode.INVALID_PROOF: "the proof does not verify with the given key",
    ErrorCode.INVALID_KEY: "the key is not an acceptable Ed25519 public JWK",
    ErrorCode.CALLBACK_URL_REJECTED: "the callback URL is not https or points at a private host",
    ErrorCode.UNAUTHORIZED: "no valid API key or admin token",
    ErrorCode.INVALID_TOKEN: "the device token is missing, invalid, replayed or its device revoked",
    ErrorCode.FORBIDDEN: "this device may not answer this challenge",
    ErrorCode.NOT_FOUND: "no such resource (or not the caller's)",
    ErrorCode.CHALLENGE_NOT_PENDING: "the challenge has already ended",
    ErrorCode.PAYLOAD_TOO_LARGE: "the body is larger than the configured limit",
    ErrorCode.NO_DEVICES: "the user has no active device for this app",
    ErrorCode.TOO_MANY_PENDING: "the user has too many pending challenges",
    ErrorCode.RATE_LIMITED: "a limit or a lock holds for now; Retry-After says how long",
    ErrorCode.UNAVAILABLE: "the store cannot be reached; nothing was changed",
    ErrorCode.REQUEST_TIMEOUT: "the body did not arrive within PUSH_HTTP_REQUEST_TIMEOUT",
}


def content(schema: Schema) -> Schema:
    return {"application/json": {"schema": schema}}


def answer(description: str, schema: Schema | None = None) -> Schema:
    response: Schema = {"description": description}
    if schema is not None:
        response["content"] = content(schema)
    return response


def errors(*codes: ErrorCode) -> Schema:
    """One response per HTTP status, each naming the error codes it can carry."""
    by_status: dict[int, list[ErrorCode]] = {}
    for code in codes:
        by_status.setdefault(HTTP_STATUS[code], []).append(code)
    return {str(status): error_response(status, by_status[status]) for status in sorted(by_status)}


def error_response(status: int, codes: list[ErrorCode]) -> Schema:
    narrowed = {"error": {"properties": {"code": enum(codes)}}}
    response = answer(
        "; ".join(f"`{code.value}`: {MEANING[code]}" for code in codes) + ".",
        {"allOf": [ref("Error")], "properties": narrowed},
    )
    if status == 401:
        response["headers"] = {"WWW-Authenticate": header(string(), required=True)}
    if status == 429:
        response["headers"] = {"Retry-After": header(integer(0), required=False)}
    return response


def header(schema: Schema, *, required: bool) -> Schema:
    return {"schema": schema, "required": required}


# Parameters
def path_param(name: str, description: str) -> Schema:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": string(minLength=1),
    }


def query(name: str, schema: Schema, description: str) -> Schema:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema,
    }


LIMIT = query("limit", integer(1, 1000, default=100), "At most this many items.")


# Operations
def operation(
    op_id: str,
    summary: str,
    security: Security,
    responses: Schema,
    *,
    raises: tuple[ErrorCode, ...] = (),
    body: str | None = None,
    params: tuple[Schema, ...] = (),
    store: bool = True,
    description: str | None = None,
) -> Schema:
    """An operation; the errors its credential, its body and the store can cause are added."""
    found = list(raises)
    if body is not None:
        found += [ErrorCode.INVALID_REQUEST, ErrorCode.REQUEST_TIMEOUT, ErrorCode.PAYLOAD_TOO_LARGE]
    if security:
        found.append(ErrorCode.INVALID_TOKEN if security is DEVICE else ErrorCode.UNAUTHORIZED)
    if store:
        found.append(ErrorCode.UNAVAILABLE)
    op: Schema = {"operationId": op_id, "summary": summary, "security": security}
    if description:
        op["description"] = description
    if params:
        op["parameters"] = list(params)
    if body is not None:
        op["requestBody"] = {"required": True, "content": content(ref(body))}
    op["responses"] = {**responses, **errors(*dict.fromkeys(found))}
    return op


def ok(status: int, description: str, schema: Schema | None = None) -> Schema:
    return {str(status): answer(description, schema)}


def page(description: str, media_type: str) -> Schema:
    return {"200": {"description": description, "content": {media_type: {"schema": string()}}}}


def websocket(op_id: str, summary: str, description: str) -> Schema:
    """A websocket endpoint: its credential travels in the first message, not in a header."""
    return {
        "operationId": op_id,
        "summary": summary,
        "description": description + " Messages and close codes: docs/api.md.",
        "security": NONE,
        "x-websocket": True,
        "responses": {
            "101": {"description": "Switching to the websocket protocol."},
            **errors(ErrorCode.INVALID_REQUEST),
        },
    }


def paths() -> Schema:
    groups = {
        "service": service_paths(),
        "enrollment": enrollment_paths(),
        "devices": device_paths(),
        "challenges": challenge_paths(),
        "operator": {**admin_app_paths(), **admin_webhook_paths(), **admin_user_paths()},
        "dashboard": dashboard_paths(),
    }
    return {
        path: tagged(tag, item) for tag, group in groups.items() for path, item in group.items()
    }


def tagged(tag: str, item: Schema) -> Schema:
    return {
        key: {**value, "tags": [tag]} if key in METHODS else value for key, value in item.items()
    }


METHODS = {"get", "post", "put", "patch", "delete"}


def service_paths() -> Schema:
    status = ref("Status")
    return {
        "/.well-known/push-approval": {
            "get": operation(
                "discover",
                "Discovery",
                NONE,
                ok(200, "The service.", ref("Discovery")),
                store=False,
            )
        },
        "/healthz": {
            "get": operation(
                "healthz", "The process answers", NONE, ok(200, "Alive.", status), store=False
            )
        },
        "/readyz": {
            "get": operation("readyz", "The store answers", NONE, ok(200, "Ready.", status))
        },
        "/metrics": {
            "get": operation(
                "metrics",
                "Prometheus metrics",
                NONE,
                page("The Prometheus text exposition format.", "text/plain"),
                store=False,
            )
        },
        "/openapi.json": {
            "get": operation(
                "openapi",
                "This description",
                NONE,
                ok(200, "OpenAPI 3.1.", {"type": "object"}),
                store=False,
            )
        },
    }


def enrollment_paths() -> Schema:
    enrollment = ok(201, "A single-use code, and a URI for a QR code.", ref("Enrollment"))
    refusals = (ErrorCode.INVALID_ENROLLMENT, ErrorCode.INVALID_KEY, ErrorCode.INVALID_PROOF)
    return {
        "/v1/enrollments": {
            "post": operation(
                "createEnrollment",
                "Start enrolling a phone for a user",
                OPERATOR_OR_APP,
                enrollment,
                body="CreateEnrollment",
                description="A device enrolled through an app's enrollment answers only that "
                "app's challenges; through an operator's, every app's unless 'app_ids' narrows it.",
            )
        },
        "/v1/devices": {
            "post": operation(
                "enrollDevice",
                "Enroll a phone with a code and its new public key",
                NONE,
                ok(201, "The device.", ref("EnrolledDevice")),
                raises=refusals,
                body="EnrollDevice",
            )
        },
    }


def device_paths() -> Schema:
    return {
        "/v1/devices/me/challenges": {"get": my_challenges_operation()},
        "/v1/devices/me": {"delete": revoke_me_operation()},
        "/v1/devices/me/key": {"post": rotate_key_operation()},
        "/v1/challenges/{challenge_id}/response": {
            "parameters": [path_param("challenge_id", "The challenge.")],
            "post": respond_operation(),
        },
        "/v1/devices/stream": {
            "get": websocket(
                "deviceStream",
                "The device stream",
                "Pushes challenges to a phone and takes its signed answers; the phone "
                "authenticates with a device token in its first message.",
            )
        },
    }


def my_challenges_operation() -> Schema:
    pending = closed({"challenges": array(ref("DeviceChallenge"))})
    return operation(
        "myChallenges",
        "The device's pending challenges (polling)",
        DEVICE,
        ok(200, "Pending challenges, oldest first.", pending),
    )


def revoke_me_operation() -> Schema:
    return operation(
        "revokeMe",
        "The device revokes itself",
        DEVICE,
        ok(204, "Revoked; its streams close with 4403."),
        raises=(ErrorCode.NOT_FOUND,),
        description="404 only when the device was revoked between the check of its token and "
        "the revocation.",
    )


def rotate_key_operation() -> Schema:
    rotated = closed({"device_id": ID, "rotated": {"type": "boolean", "const": True}})
    return operation(
        "rotateKey",
        "Replace the device's key",
        DEVICE,
        ok(200, "From now on only the new key is accepted.", rotated),
        raises=(ErrorCode.INVALID_KEY, ErrorCode.INVALID_PROOF),
        body="RotateKey",
        description="The bearer token is signed with the old key; the proof with the new one.",
    )


def respond_operation() -> Schema:
    return operation(
        "respond",
        "A phone's signed answer (polling)",
        NONE,
        ok(200, "The status this answer produced.", ref("ChallengeResult")),
        raises=(
            ErrorCode.INVALID_TOKEN,
            ErrorCode.FORBIDDEN,
            ErrorCode.NOT_FOUND,
            ErrorCode.CHALLENGE_NOT_PENDING,
        ),
        body="ChallengeResponse",
        description="The response token in the body is the credential. 400 invalid_request also "
        "when its 'cid' or 'nonce' do not match the challenge.",
    )


def challenge_paths() -> Schema:
    return {
        "/v1/challenges": {"post": create_challenge_operation()},
        "/v1/challenges/{challenge_id}": {
            "parameters": [path_param("challenge_id", "The challenge.")],
            "get": get_challenge_operation(),
            "delete": operation(
                "cancelChallenge",
                "Cancel a pending challenge",
                APP_OR_OPERATOR,
                ok(200, "The challenge, now cancelled.", ref("Challenge")),
                raises=(ErrorCode.NOT_FOUND, ErrorCode.CHALLENGE_NOT_PENDING),
            ),
        },
    }


def create_challenge_operation() -> Schema:
    idempotency = {
        "name": "Idempotency-Key",
        "in": "header",
        "required": False,
        "description": "The same key from the same app within 24 h returns the first challenge "
        "and pushes nothing new. Visible ASCII characters and inner spaces.",
        "schema": string(minLength=1, maxLength=255, pattern="^[!-~]([ -~]*[!-~])?$"),
    }
    made = "The challenge, with 'match_number' when number matching is on."
    return operation(
        "createChallenge",
        "Ask a user to approve",
        APP,
        ok(201, made, ref("Challenge")),
        raises=(
            ErrorCode.CALLBACK_URL_REJECTED,
            ErrorCode.NO_DEVICES,
            ErrorCode.TOO_MANY_PENDING,
            ErrorCode.RATE_LIMITED,
        ),
        body="CreateChallenge",
        params=(idempotency,),
    )


def get_challenge_operation() -> Schema:
    wait = query(
        "wait",
        integer(1, 60),
        "Answer as soon as the challenge is not pending, or after this many seconds.",
    )
    return operation(
        "getChallenge",
        "A challenge, optionally waiting for its end",
        APP_OR_OPERATOR,
        ok(200, "The challenge.", ref("Challenge")),
        raises=(ErrorCode.INVALID_REQUEST, ErrorCode.NOT_FOUND, ErrorCode.RATE_LIMITED),
        params=(wait,),
        description="An app sees only its own challenges (another's is 404); 'match_number' is "
        "shown only to the app that made it, while pending. 429 rate_limited when the caller "
        "already holds PUSH_MAX_WAITS_PER_APP long-polls on this instance.",
    )


def admin_app_paths() -> Schema:
    app_id = path_param("app_id", "The app.")
    made = "The app, with its API key and webhook secret, shown once."
    rotated = closed({"app_id": ID, "webhook_secret": string(pattern="^whsec_")})
    return {
        "/v1/admin/apps": {
            "post": operation(
                "createApp",
                "Register a relying app",
                OPERATOR,
                ok(201, made, ref("AppCreated")),
                body="CreateApp",
            ),
            "get": operation(
                "listApps",
                "The apps (no secrets)",
                OPERATOR,
                ok(200, "Every app.", closed({"apps": array(ref("App"))})),
            ),
        },
        "/v1/admin/apps/{app_id}": {
            "parameters": [app_id],
            "delete": operation(
                "deleteApp",
                "Delete an app; its API key stops working at once",
                OPERATOR,
                ok(204, "Deleted."),
                raises=(ErrorCode.NOT_FOUND,),
            ),
        },
        "/v1/admin/apps/{app_id}/webhook-secret": {
            "parameters": [app_id],
            "post": operation(
                "rotateWebhookSecret",
                "Give an app a new webhook secret",
                OPERATOR,
                ok(200, "The new secret; the old one signs on for the grace period.", rotated),
                raises=(ErrorCode.NOT_FOUND,),
            ),
        },
    }


def admin_webhook_paths() -> Schema:
    return {
        "/v1/admin/webhooks": {"get": list_webhooks_operation()},
        "/v1/admin/webhooks/{delivery_id}/redeliver": {
            "parameters": [path_param("delivery_id", "The delivery.")],
            "post": operation(
                "redeliverWebhook",
                "Send a delivered or dead webhook again",
                OPERATOR,
                ok(200, "The delivery, scheduled now.", ref("Delivery")),
                raises=(ErrorCode.INVALID_REQUEST, ErrorCode.NOT_FOUND),
                description="400 invalid_request while the delivery is still being retried.",
            ),
        },
        "/v1/admin/challenges": {"get": list_challenges_operation()},
        "/v1/admin/audit": {"get": audit_operation()},
    }


def list_webhooks_operation() -> Schema:
    state = query("state", enum(DeliveryState), "Only deliveries in this state.")
    return operation(
        "listWebhooks",
        "Webhook deliveries, newest first",
        OPERATOR,
        ok(200, "Deliveries.", closed({"deliveries": array(ref("Delivery"))})),
        raises=(ErrorCode.INVALID_REQUEST,),
        params=(state, LIMIT),
    )


def list_challenges_operation() -> Schema:
    found = closed({"challenges": array(ref("Challenge"))})
    return operation(
        "listChallenges",
        "Challenges of every app, newest first",
        OPERATOR,
        ok(200, "Challenges (never with 'match_number').", found),
        raises=(ErrorCode.INVALID_REQUEST,),
        params=(
            query("status", enum(Status), "Only challenges with this status."),
            query("app_id", string(), "Only this app's."),
            query("user_id", string(), "Only this user's."),
            LIMIT,
        ),
    )


def audit_operation() -> Schema:
    events = closed(
        {"events": array(ref("AuditEvent"))},
        {"next_before": string(description="Pass as 'before' for the next page.")},
    )
    return operation(
        "auditLog",
        "The audit trail, newest first",
        OPERATOR,
        ok(200, "Events; 'next_before' when the page is full.", events),
        raises=(ErrorCode.INVALID_REQUEST,),
        params=(
            query("kind", string(), "An event kind, or a prefix of kinds ('challenge')."),
            query("app_id", string(), "Only events about this app."),
            query("user_id", string(), "Only events about this user."),
            query("device_id", string(), "Only events about this device."),
            query("before", string(), "Only events older than this event id."),
            LIMIT,
        ),
    )


def admin_user_paths() -> Schema:
    user_id = path_param("user_id", "The user.")
    devices = closed({"devices": array(ref("Device"))})
    standing = ref("Standing")
    return {
        "/v1/admin/users/{user_id}/devices": {
            "parameters": [user_id],
            "get": operation(
                "listDevices", "A user's active devices", OPERATOR, ok(200, "Devices.", devices)
            ),
        },
        "/v1/admin/users/{user_id}": {
            "parameters": [user_id],
            "get": operation(
                "userStanding",
                "A user's push-fatigue standing",
                OPERATOR,
                ok(200, "The standing.", standing),
            ),
        },
        "/v1/admin/users/{user_id}/reset": {
            "parameters": [user_id],
            "post": operation(
                "resetUser",
                "Lift a fraud lock; clear strikes and the push count",
                OPERATOR,
                ok(200, "The standing after the reset.", standing),
            ),
        },
        "/v1/admin/devices/{device_id}": {
            "parameters": [path_param("device_id", "The device.")],
            "delete": operation(
                "revokeDevice",
                "Revoke a device; its streams close with 4403",
                OPERATOR,
                ok(204, "Revoked."),
                raises=(ErrorCode.NOT_FOUND,),
            ),
        },
    }


ASSET_TYPES = {"text/javascript": {"schema": string()}, "text/css": {"schema": string()}}


def dashboard_paths() -> Schema:
    asset = {
        "name": "name",
        "in": "path",
        "required": True,
        "description": "A file of the page.",
        "schema": enum(["dashboard.js", "dashboard.css"]),
    }
    return {
        "/dashboard": {
            "get": operation(
                "dashboard",
                "The operator dashboard",
                NONE,
                page("The page.", "text/html"),
                store=False,
                description="Holds no secret: the operator signs in on the page, which sends the "
                "admin token in the first message of /v1/admin/stream.",
            )
        },
        "/dashboard/{name}": {
            "parameters": [asset],
            "get": operation(
                "dashboardAsset",
                "A script or style sheet of the dashboard",
                NONE,
                {"200": {"description": "The file.", "content": ASSET_TYPES}},
                raises=(ErrorCode.NOT_FOUND,),
                store=False,
            ),
        },
        "/v1/admin/stream": {
            "get": websocket(
                "dashboardFeed",
                "The dashboard's live feed",
                "A snapshot of pending challenges and connected devices, then every event; the "
                "page authenticates with the admin token in its first message.",
            )
        },
    }
