"""push-admin against the real service on a loopback port: every command, its JSON output, its
one-line errors, and the installed command's exit statuses (missing token, Ctrl-C on --follow)."""

from __future__ import annotations

import asyncio
import io
import re
import signal
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import segno

from client_sdk import AdminClient, AppClient, DeviceClient, PushApprovalError
from client_sdk.admin_audit import FOLLOW_INTERVAL
from client_sdk.admin_output import format_table, jsonable, relative
from tests.conftest import ADMIN_TOKEN
from tests.webhooks.receiver import Pki, Receiver, eventually, make_pki

from .live_service import (
    PUSH_ADMIN,
    AdminCli,
    ServerFactory,
    run_script,
    script_environ,
    start_service,
)

URI = re.compile(r"pushapproval://enroll\?\S+")
QR_LINE = re.compile(r"^[█▀▄ ]{20,}$")


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
async def url(aiohttp_server: ServerFactory, unused_tcp_port: int, pki: Pki) -> str:
    return await start_service(aiohttp_server, unused_tcp_port, PUSH_CALLBACK_CA_FILE=str(pki.ca))


@pytest.fixture
def cli(url: str) -> AdminCli:
    return AdminCli(url)


@pytest.fixture
async def receiver(pki: Pki) -> AsyncIterator[Receiver]:
    started = Receiver(pki.server_context())
    await started.start()
    yield started
    await started.close()


async def new_app(cli: AdminCli, name: str = "Intranet") -> dict[str, Any]:
    made: dict[str, Any] = (await cli.ok("apps", "create", name, "--json")).json()
    return made


async def enrolled(cli: AdminCli, tmp_path: Path, user: str = "alice") -> DeviceClient:
    """A device enrolled with the URI that ``push-admin enroll`` printed."""
    shown = await cli.ok("enroll", user, "--no-qr")
    found = URI.search(shown.out)
    assert found is not None, shown.out
    return await DeviceClient.enroll_from_uri(found.group(), "pixel", tmp_path / f"{user}.json")


async def test_apps_create_prints_working_secrets_once_with_a_warning(
    cli: AdminCli, url: str
) -> None:
    made = await cli.ok("apps", "create", "Intranet")
    api_key = re.search(r"^API key: +(pak_\S+)$", made.out, re.MULTILINE)
    secret = re.search(r"^Webhook secret: +(whsec_\S+)$", made.out, re.MULTILINE)
    assert api_key, made.out
    assert secret, made.out
    assert "not shown again" in made.err
    async with AppClient(url, api_key.group(1)) as app:
        enrollment = await app.create_enrollment("alice")
    assert enrollment.user_id == "alice"

    listed = await cli.ok("apps", "list")
    header, row = listed.out.splitlines()
    assert header.split() == ["APP", "ID", "NAME", "CREATED"]
    assert row.split()[1:] == ["Intranet", "now"]
    assert header.index("NAME") == row.index("Intranet")  # aligned under its header
    apps = (await cli.ok("apps", "list", "--json")).json()
    assert [a["name"] for a in apps] == ["Intranet"]
    assert "api_key" not in apps[0]
    assert "webhook_secret" not in apps[0]


async def test_apps_rotate_secret_and_delete(cli: AdminCli, url: str) -> None:
    app = await new_app(cli)
    rotated = await cli.ok("apps", "rotate-secret", app["app_id"], "--json")
    new_secret = rotated.json()["webhook_secret"]
    assert new_secret.startswith("whsec_")
    assert new_secret != app["webhook_secret"]
    assert "not shown again" in rotated.err

    deleted = await cli.ok("apps", "delete", app["app_id"])
    assert app["app_id"] in deleted.out
    assert (await cli.ok("apps", "list", "--json")).json() == []
    async with AppClient(url, app["api_key"]) as gone:
        with pytest.raises(PushApprovalError) as refused:
            await gone.create_enrollment("alice")
    assert refused.value.code == "unauthorized"

    again = await cli("apps", "delete", app["app_id"])
    assert again.code == 1
    assert again.out == ""
    assert again.err.startswith("push-admin: ")
    assert again.err.count("\n") == 1
    assert "not_found" in again.err


async def test_enroll_prints_the_uri_and_its_qr_code(cli: AdminCli) -> None:
    shown = await cli.ok("enroll", "alice")
    found = URI.search(shown.out)
    assert found is not None, shown.out
    expected = io.StringIO()
    segno.make_qr(found.group()).terminal(out=expected, compact=True)
    assert expected.getvalue() in shown.out
    assert sum(bool(QR_LINE.match(line)) for line in shown.out.splitlines()) >= 20
    assert re.search(r"^Answers for: +every app$", shown.out, re.MULTILINE)

    plain = await cli.ok("enroll", "alice", "--no-qr")
    assert URI.search(plain.out)
    assert not any(QR_LINE.match(line) for line in plain.out.splitlines())


async def test_enroll_for_chosen_apps_as_json(cli: AdminCli) -> None:
    first, second = await new_app(cli, "One"), await new_app(cli, "Two")
    shown = await cli.ok("enroll", "bob", "--app", first["app_id"], "--app", second["app_id"])
    assert f"{first['app_id']}, {second['app_id']}" in shown.out
    enrollment = (await cli.ok("enroll", "bob", "--app", first["app_id"], "--json")).json()
    assert enrollment["user_id"] == "bob"
    assert enrollment["app_ids"] == [first["app_id"]]
    assert enrollment["uri"].startswith("pushapproval://enroll?")

    unknown = await cli("enroll", "bob", "--app", "app_nope")
    assert unknown.code == 1
    assert "invalid_request" in unknown.err


async def test_devices_list_and_revoke(cli: AdminCli, tmp_path: Path) -> None:
    assert (await cli.ok("devices", "list", "alice")).out == "No devices for alice.\n"
    async with await enrolled(cli, tmp_path) as device:
        listed = await cli.ok("devices", "list", "alice")
        assert device.device_id in listed.out
        assert "pixel" in listed.out
        [row] = (await cli.ok("devices", "list", "alice", "--json")).json()
        assert row["device_id"] == device.device_id
        assert row["connected"] is False

        revoked = await cli.ok("devices", "revoke", device.device_id)
        assert device.device_id in revoked.out
        with pytest.raises(PushApprovalError) as refused:
            await device.pending()
        assert refused.value.code == "invalid_token"
    assert (await cli.ok("devices", "list", "alice", "--json")).json() == []
    again = await cli("devices", "revoke", device.device_id)
    assert again.code == 1
    assert "not_found" in again.err


async def test_challenges_list_and_cancel(cli: AdminCli, url: str, tmp_path: Path) -> None:
    app = await new_app(cli)
    async with await enrolled(cli, tmp_path), AppClient(url, app["api_key"]) as client:
        challenge = await client.create_challenge("alice", context={"action": "Sign in"})
        listed = await cli.ok("challenges", "list", "--status", "pending", "--user", "alice")
        assert challenge.challenge_id in listed.out
        assert "pending" in listed.out
        [shown] = (await cli.ok("challenges", "list", "--app", app["app_id"], "--json")).json()
        assert shown["challenge_id"] == challenge.challenge_id
        assert "match_number" not in shown
        none = await cli.ok("challenges", "list", "--user", "nobody")
        assert none.out == "No challenges.\n"

        cancelled = await cli.ok("challenges", "cancel", challenge.challenge_id)
        assert f"Cancelled challenge {challenge.challenge_id}" in cancelled.out
        assert (await client.get_challenge(challenge.challenge_id)).status == "cancelled"
        ended = await cli.ok("challenges", "list", "--status", "cancelled", "--json")
        assert [c["challenge_id"] for c in ended.json()] == [challenge.challenge_id]

        again = await cli("challenges", "cancel", challenge.challenge_id)
        assert again.code == 1
        assert "challenge_not_pending" in again.err


async def test_users_show_and_reset_a_fraud_lock(cli: AdminCli, url: str, tmp_path: Path) -> None:
    app = await new_app(cli)
    clean = await cli.ok("users", "show", "alice")
    assert re.search(r"^Locked: +no$", clean.out, re.MULTILINE), clean.out
    async with await enrolled(cli, tmp_path) as device, AppClient(url, app["api_key"]) as client:
        await client.create_challenge("alice")
        [pending] = await device.pending()
        await device.report_fraud(pending)
    locked = await cli.ok("users", "show", "alice")
    assert re.search(r"^Locked: +yes, lifts in \d+ (s|min|h)$", locked.out, re.MULTILINE), (
        locked.out
    )
    assert re.search(r"^Strikes: +1$", locked.out, re.MULTILINE)
    standing = (await cli.ok("users", "show", "alice", "--json")).json()
    assert standing["locked"] is True
    assert standing["strikes"] == 1

    reset = await cli.ok("users", "reset", "alice")
    assert re.search(r"^Locked: +no$", reset.out, re.MULTILINE), reset.out
    after = (await cli.ok("users", "show", "alice", "--json")).json()
    assert after == {**after, "locked": False, "strikes": 0, "pushes_since_approval": 0}


async def test_webhooks_list_and_redeliver(
    cli: AdminCli, url: str, tmp_path: Path, receiver: Receiver
) -> None:
    app = await new_app(cli)
    async with await enrolled(cli, tmp_path), AppClient(url, app["api_key"]) as client:
        challenge = await client.create_challenge("alice", callback_url=receiver.url())
        await cli.ok("challenges", "cancel", challenge.challenge_id)

    async def delivered() -> Any:
        found = (await cli.ok("webhooks", "list", "--state", "delivered", "--json")).json()
        return found or None

    [delivery] = await eventually(delivered, "the cancellation's delivery", 5.0)
    assert delivery["challenge_id"] == challenge.challenge_id
    listed = await cli.ok("webhooks", "list")
    assert delivery["delivery_id"] in listed.out
    assert "challenge.cancelled" in listed.out
    assert (await cli.ok("webhooks", "list", "--state", "dead")).out == "No webhook deliveries.\n"

    again = await cli.ok("webhooks", "redeliver", delivery["delivery_id"])
    assert f"Delivery {delivery['delivery_id']} is queued again" in again.out
    await eventually(lambda: len(receiver.at()) == 2 or None, "the second delivery", 5.0)


async def test_audit_filters_and_json(cli: AdminCli) -> None:
    app = await new_app(cli)
    await cli.ok("users", "reset", "erin")
    await cli.ok("users", "reset", "frank")

    by_user = (await cli.ok("audit", "--user", "erin", "--json")).json()
    assert [(e["kind"], e["user_id"]) for e in by_user] == [("user.reset", "erin")]
    by_kind = (await cli.ok("audit", "--kind", "app", "--json")).json()
    assert [(e["kind"], e["app_id"]) for e in by_kind] == [("app.created", app["app_id"])]
    by_app = (await cli.ok("audit", "--app", app["app_id"])).out.splitlines()
    assert by_app[0].split() == ["TIME", "KIND", "ACTOR", "ABOUT", "DETAIL"]
    assert "app.created" in by_app[1]
    assert len(by_app) == 2

    everything = (await cli.ok("audit", "--json")).json()
    assert [e["kind"] for e in everything] == ["app.created", "user.reset", "user.reset"]
    newest = (await cli.ok("audit", "--limit", "1", "--json")).json()
    assert newest == everything[-1:]
    none = await cli.ok("audit", "--device", "dev_nope")
    assert none.out == "No audit events.\n"


async def test_audit_reads_further_pages_for_a_large_limit(
    cli: AdminCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    for user in ("u1", "u2", "u3", "u4", "u5"):
        await cli.ok("users", "reset", user)
    pages: list[int | None] = []
    original = AdminClient.audit

    async def counting(self: AdminClient, **query: Any) -> Any:
        pages.append(query.get("limit"))
        return await original(self, **{**query, "limit": 2})

    monkeypatch.setattr(AdminClient, "audit", counting)
    events = (await cli.ok("audit", "--limit", "4", "--json")).json()
    assert [e["user_id"] for e in events] == ["u2", "u3", "u4", "u5"]
    assert len(pages) == 2


async def test_global_options_go_before_or_after_the_command(cli: AdminCli) -> None:
    await new_app(cli)
    lost = cli.environ(PUSH_URL="http://127.0.0.1:9", PUSH_ADMIN_TOKEN=None)
    before = await cli(
        "--url", cli.url, "--token", ADMIN_TOKEN, "--json", "apps", "list", environ=lost
    )
    after = await cli(
        "apps", "list", "--url", cli.url, "--token", ADMIN_TOKEN, "--json", environ=lost
    )
    assert before.code == after.code == 0, before.err + after.err
    assert before.json() == after.json()
    assert len(after.json()) == 1


async def test_a_wrong_token_is_refused_without_echoing_it(cli: AdminCli) -> None:
    refused = await cli("--token", "not-the-token-42", "apps", "list")
    assert refused.code == 1
    assert refused.out == ""
    assert "unauthorized" in refused.err
    assert "PUSH_ADMIN_TOKEN" in refused.err
    assert "not-the-token-42" not in refused.err


async def test_an_unreachable_service_is_one_line(
    cli: AdminCli, unused_tcp_port_factory: Any
) -> None:
    lost = cli.environ(PUSH_URL=f"http://127.0.0.1:{unused_tcp_port_factory()}")
    failed = await cli("apps", "list", environ=lost)
    assert failed.code == 1
    assert failed.err.count("\n") == 1
    assert failed.err.startswith("push-admin: Cannot reach the service")


async def test_the_installed_command_refuses_to_run_without_a_token(url: str) -> None:
    assert PUSH_ADMIN.exists(), "install the project: pip install -e '.[dev]'"
    result = await run_script("apps", "list", env=script_environ(url, token=None))
    assert result.code == 1
    assert result.out == ""
    assert result.err == "push-admin: No admin token: set PUSH_ADMIN_TOKEN (or pass --token).\n"
    worked = await run_script("apps", "list", "--json", env=script_environ(url))
    assert worked.code == 0
    assert worked.json() == []


async def test_audit_follow_prints_new_events_once_until_ctrl_c(url: str, cli: AdminCli) -> None:
    await new_app(cli, "Before")
    process = await asyncio.create_subprocess_exec(
        str(PUSH_ADMIN),
        "audit",
        "--follow",
        "--kind",
        "app",
        env=script_environ(url),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    lines: list[str] = []

    async def read_until(text: str) -> None:
        while not any(text in line for line in lines):
            line = await asyncio.wait_for(process.stdout.readline(), 10)  # type: ignore[union-attr]
            assert line, f"the command ended before printing {text!r}: {lines}"
            lines.append(line.decode())

    try:
        await read_until("Before")
        first, second = await new_app(cli, "First"), await new_app(cli, "Second")
        await read_until(second["app_id"])
        await asyncio.sleep(FOLLOW_INTERVAL * 2.5)  # more polls, which must print nothing again
        process.send_signal(signal.SIGINT)
        rest, _ = await asyncio.wait_for(process.communicate(), 10)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    lines += rest.decode().splitlines(keepends=True)
    assert process.returncode == 130
    assert lines[0].split() == ["TIME", "KIND", "ACTOR", "ABOUT", "DETAIL"]
    for app in (first, second):
        assert sum(app["app_id"] in line for line in lines) == 1, lines
    kinds = [line.split()[2] for line in lines[1:]]
    assert kinds == ["app.created"] * 3


def test_times_read_relative_and_tables_align() -> None:
    now = datetime(2026, 12, 3, 15, 40, tzinfo=UTC)
    cases = {0: "now", 5: "in 5 s", -90: "1 min ago", 7200: "in 2 h", -200000: "2 d ago"}
    for seconds, text in cases.items():
        assert relative(now + timedelta(seconds=seconds), now) == text
    assert format_table([["ID", "NAME"], ["app_1", "Wiki"], ["a", "Intranet"]]) == [
        "ID     NAME",
        "app_1  Wiki",
        "a      Intranet",
    ]
    assert jsonable({"at": now + timedelta(milliseconds=250)}) == {"at": "2026-12-03T15:40:00.250Z"}
