"""The ``push-admin`` commands on apps, enrollments, devices, challenges, users and webhooks.

Each handler makes its requests through an `AdminClient` and prints through an `Output`.
"""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from .admin_client import AdminClient
from .admin_output import Output, duration, local_time, write_qr
from .models import Challenge

Handler = Callable[[AdminClient, argparse.Namespace, Output], Awaitable[int]]

NOT_SHOWN_AGAIN = "store the secrets above now: they are not shown again."


def text(data: Mapping[str, Any], name: str) -> str:
    """Return a member of a service object as text (``"-"`` when missing or null).

    Args:
        data: The object.
        name: The member's name.
    """
    value = data.get(name)
    return "-" if value is None else str(value)


async def apps_create(admin: AdminClient, args: argparse.Namespace, out: Output) -> int:
    """Register an app and print its API key and webhook secret, once."""
    made = await admin.create_app(args.name)
    if out.as_json:
        out.json(made)
    else:
        out.fields(
            [
                ("App", f"{text(made, 'name')} ({text(made, 'app_id')})"),
                ("API key", text(made, "api_key")),
                ("Webhook secret", text(made, "webhook_secret")),
            ]
        )
    out.warn(NOT_SHOWN_AGAIN)
    return 0


async def apps_list(admin: AdminClient, args: argparse.Namespace, out: Output) -> int:
    """List the registered apps."""
    apps = await admin.list_apps()
    if out.as_json:
        out.json(apps)
        return 0
    rows = [(text(a, "app_id"), text(a, "name"), out.ago(a.get("created_at"))) for a in apps]
    out.table(("APP ID", "NAME", "CREATED"), rows, "No apps.")
    return 0


async def apps_delete(admin: AdminClient, args: argparse.Namespace, out: Output) -> int:
    """Delete an app."""
    await admin.delete_app(args.app_id)
    if out.as_json:
        out.json({"app_id": args.app_id, "deleted": True})
    else:
        out.line(f"Deleted app {args.app_id}; its API key no longer works.")
    return 0


async def apps_rotate_secret(admin: AdminClient, args: argparse.Namespace, out: Output) -> int:
    """Give an app a new webhook secret and print it, once."""
    rotated = await admin.rotate_webhook_secret(args.app_id)
    if out.as_json:
        out.json(rotated)
    else:
        out.fields(
            [("App", text(rotated, "app_id")), ("Webhook secret", text(rotated, "webhook_secret"))]
        )
        out.line(
            "The previous secret keeps signing alongside it for the service's grace period "
            "(PUSH_WEBHOOK_SECRET_GRACE, 24 h by default)."
        )
    out.warn(NOT_SHOWN_AGAIN)
    return 0


async def enroll(admin: AdminClient, args: argparse.Namespace, out: Output) -> int:
    """Start a device enrollment and print its URI, as text and as a QR code."""
    enrollment = await admin.create_enrollment(args.user, args.app or None)
    if out.as_json:
        out.json(enrollment)
        return 0
    scope = ", ".join(enrollment.app_ids) if enrollment.app_ids is not None else "every app"
    out.fields(
        [
            ("User", enrollment.user_id),
            ("Answers for", scope),
            ("Expires", f"{out.ago(enrollment.expires_at)} ({local_time(enrollment.expires_at)})"),
            ("URI", enrollment.uri),
        ]
    )
    if not args.no_qr:
        out.line()
        write_qr(enrollment.uri, out.out)
    out.line(f"Scan the code with the device, or run there: push-device enroll '{enrollment.uri}'")
    return 0


async def devices_list(admin: AdminClient, args: argparse.Namespace, out: Output) -> int:
    """List a user's devices."""
    devices = await admin.list_devices(args.user)
    if out.as_json:
        out.json(devices)
        return 0
    rows = [_device_row(device, out) for device in devices]
    headers = ("DEVICE ID", "NAME", "CONNECTED", "LAST SEEN", "ENROLLED", "ANSWERS FOR")
    out.table(headers, rows, f"No devices for {args.user}.")
    return 0


def _device_row(device: Mapping[str, Any], out: Output) -> tuple[str, ...]:
    app_ids = device.get("app_ids")
    scope = ", ".join(map(str, app_ids)) if isinstance(app_ids, list) else "every app"
    return (
        text(device, "device_id"),
        text(device, "name"),
        "yes" if device.get("connected") else "no",
        out.ago(device.get("last_seen_at")),
        out.ago(device.get("created_at")),
        scope,
    )


async def devices_revoke(admin: AdminClient, args: argparse.Namespace, out: Output) -> int:
    """Revoke a device."""
    await admin.revoke_device(args.device_id)
    if out.as_json:
        out.json({"device_id": args.device_id, "revoked": True})
    else:
        out.line(
            f"Revoked device {args.device_id}: its connections are closed, its tokens refused."
        )
    return 0


async def challenges_list(admin: AdminClient, args: argparse.Namespace, out: Output) -> int:
    """List challenges, newest first."""
    found = await admin.list_challenges(args.status, args.app, args.user, limit=args.limit)
    if out.as_json:
        out.json(found)
        return 0
    rows = [_challenge_row(challenge, out) for challenge in found]
    headers = ("CHALLENGE ID", "APP ID", "USER", "STATUS", "CREATED", "ENDED OR EXPIRES")
    out.table(headers, rows, "No challenges.")
    return 0


def _challenge_row(challenge: Challenge, out: Output) -> tuple[str, ...]:
    status = challenge.status + (f" ({challenge.reason})" if challenge.reason else "")
    end = challenge.expires_at if challenge.is_pending else challenge.decided_at
    return (
        challenge.challenge_id,
        challenge.app_id,
        challenge.user_id,
        status,
        out.ago(challenge.created_at),
        out.ago(end or challenge.expires_at),
    )


async def challenges_cancel(admin: AdminClient, args: argparse.Namespace, out: Output) -> int:
    """Cancel a pending challenge."""
    challenge = await admin.cancel_challenge(args.challenge_id)
    if out.as_json:
        out.json(challenge)
    else:
        out.line(
            f"Cancelled challenge {challenge.challenge_id} "
            f"(user {challenge.user_id}, app {challenge.app_id})."
        )
    return 0


async def users_show(admin: AdminClient, args: argparse.Namespace, out: Output) -> int:
    """Show a user's push-fatigue standing."""
    _print_standing(await admin.user_standing(args.user), out)
    return 0


async def users_reset(admin: AdminClient, args: argparse.Namespace, out: Output) -> int:
    """Lift a user's lock and clear their strikes, then show the standing."""
    standing = await admin.reset_user(args.user)
    if not out.as_json:
        out.line(f"Reset {args.user}: lock lifted, strikes and push count cleared.")
    _print_standing(standing, out)
    return 0


def _print_standing(standing: Mapping[str, Any], out: Output) -> None:
    if out.as_json:
        out.json(standing)
        return
    seconds = standing.get("locked_for_seconds")
    left = duration(seconds) if isinstance(seconds, int) else "-"
    locked = f"yes, lifts in {left}" if standing.get("locked") else "no"
    out.fields(
        [
            ("User", text(standing, "user_id")),
            ("Locked", locked),
            ("Strikes", text(standing, "strikes")),
            ("Pushes since approval", text(standing, "pushes_since_approval")),
        ]
    )


async def webhooks_list(admin: AdminClient, args: argparse.Namespace, out: Output) -> int:
    """List webhook deliveries, newest first."""
    deliveries = await admin.list_webhooks(args.state, args.limit)
    if out.as_json:
        out.json(deliveries)
        return 0
    rows = [_delivery_row(delivery, out) for delivery in deliveries]
    headers = (
        "DELIVERY ID",
        "APP ID",
        "TYPE",
        "STATE",
        "ATTEMPTS",
        "CREATED",
        "NEXT",
        "LAST ERROR",
    )
    out.table(headers, rows, "No webhook deliveries.")
    return 0


def _delivery_row(delivery: Mapping[str, Any], out: Output) -> tuple[str, ...]:
    return (
        text(delivery, "delivery_id"),
        text(delivery, "app_id"),
        text(delivery, "type"),
        text(delivery, "state"),
        text(delivery, "attempts"),
        out.ago(delivery.get("created_at")),
        out.ago(delivery.get("next_attempt_at")),
        text(delivery, "last_error"),
    )


async def webhooks_redeliver(admin: AdminClient, args: argparse.Namespace, out: Output) -> int:
    """Send a delivered or dead webhook again."""
    delivery = await admin.redeliver_webhook(args.delivery_id)
    if out.as_json:
        out.json(delivery)
    else:
        out.line(
            f"Delivery {text(delivery, 'delivery_id')} is queued again "
            f"(state {text(delivery, 'state')})."
        )
    return 0
