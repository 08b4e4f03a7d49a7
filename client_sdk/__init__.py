"""Python SDK for the push approval service: relying apps, operators and devices.

Apps ask with `AppClient`, operators manage with `AdminClient`, devices answer with
`DeviceClient` and `DeviceStream`; `verify_webhook` checks the service's signed callbacks.
"""

from .admin_client import AdminClient
from .app_client import AppClient
from .backoff import Backoff
from .device import DeviceClient
from .enroll import EnrollmentURI, enroll_device, parse_enrollment_uri
from .errors import (
    EnrollmentURIError,
    KeyFileError,
    PushApprovalError,
    WebhookVerificationError,
)
from .events import (
    ChallengeEvent,
    Disconnected,
    Ready,
    Resolved,
    Result,
    StreamError,
    StreamEvent,
)
from .keyfile import KeyFile
from .keys import DeviceKey
from .models import (
    AppInfo,
    AuditPage,
    Challenge,
    DeviceChallenge,
    EnrolledDevice,
    Enrollment,
)
from .stream import DeviceStream
from .tokens import (
    device_token,
    enrollment_proof,
    response_token,
    rotation_proof,
    stream_auth_token,
)
from .webhooks import verify_webhook

__all__ = [
    "AdminClient",
    "AppClient",
    "AppInfo",
    "AuditPage",
    "Backoff",
    "Challenge",
    "ChallengeEvent",
    "DeviceChallenge",
    "DeviceClient",
    "DeviceKey",
    "DeviceStream",
    "Disconnected",
    "EnrolledDevice",
    "Enrollment",
    "EnrollmentURI",
    "EnrollmentURIError",
    "KeyFile",
    "KeyFileError",
    "PushApprovalError",
    "Ready",
    "Resolved",
    "Result",
    "StreamError",
    "StreamEvent",
    "WebhookVerificationError",
    "device_token",
    "enroll_device",
    "enrollment_proof",
    "parse_enrollment_uri",
    "response_token",
    "rotation_proof",
    "stream_auth_token",
    "verify_webhook",
]
