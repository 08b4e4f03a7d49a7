"""The webhook event a terminal challenge produces. Pure: the body is fixed once, at the end of
the challenge, so every retry sends the same bytes under the same `webhook-id`."""

from __future__ import annotations

from .. import jsonbody
from ..ids import new_id
from ..lifecycle import WEBHOOK_TYPES
from ..models import Challenge, Delivery, rfc3339


def delivery_for(ended: Challenge, now: float, horizon: float) -> Delivery | None:
    """The delivery to enqueue for `ended`, or None when the app gave no callback_url."""
    if ended.callback_url is None:
        return None
    event_type = WEBHOOK_TYPES[ended.status]
    body = {"type": event_type, "timestamp": rfc3339(now), "data": ended.public()}
    return Delivery(
        delivery_id=new_id("msg"),
        app_id=ended.app_id,
        challenge_id=ended.challenge_id,
        url=ended.callback_url,
        event_type=event_type,
        payload=jsonbody.dumps(body),
        created_at=now,
        next_at=now,
        deadline=now + horizon,
    )
