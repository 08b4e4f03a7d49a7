"""The push-device command against the fake service: one-line errors, listen, respond."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Sequence
from pathlib import Path

import pytest

from client_sdk import Backoff, DeviceClient, KeyFile, cli

from .conftest import Running


class ScriptedLines:
    """Typed answers: given ones first, then what the test feeds; input stays open."""

    def __init__(self, *lines: str) -> None:
        self._queue: asyncio.Queue[str] = asyncio.Queue()
        for line in lines:
            self._queue.put_nowait(line)
        self.asked = 0

    def feed(self, line: str) -> None:
        self._queue.put_nowait(line)

    async def get(self) -> str | None:
        self.asked += 1
        return await self._queue.get()

    def drain(self) -> None:
        pass


async def run_cli(argv: Sequence[str], lines: ScriptedLines | None = None) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = await cli.run(list(argv), out=out, err=err, stdin=io.StringIO(), lines=lines)
    return code, out.getvalue(), err.getvalue()


async def wait_for_text(stream: io.StringIO, text: str) -> None:
    for _ in range(500):
        if text in stream.getvalue():
            return
        await asyncio.sleep(0.01)
    pytest.fail(f"{text!r} never appeared in: {stream.getvalue()!r}")


@pytest.fixture(autouse=True)
def fast_reconnects(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli, "LISTEN_BACKOFF", Backoff(base=0.01, cap=0.05))
    monkeypatch.setenv("NO_PROXY", "*")


async def test_enroll_saves_the_key_file_and_names_the_device(
    running: Running, tmp_path: Path
) -> None:
    path = tmp_path / "device.json"
    uri = running.service.enrollment_uri(running.base_url, user_id="carol")
    code, out, err = await run_cli(["enroll", uri, "--name", "laptop", "--key-file", str(path)])
    assert code == 0, err
    saved = KeyFile.load(path)
    assert saved.user_id == "carol"
    assert running.service.devices[saved.device_id].name == "laptop"
    assert saved.device_id in out


async def test_key_file_path_comes_from_the_environment_when_not_given(
    running: Running, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "from-env.json"
    monkeypatch.setenv(cli.KEY_FILE_ENV, str(path))
    code, _, err = await run_cli(["enroll", running.service.enrollment_uri(running.base_url)])
    assert code == 0, err
    assert path.exists()


async def test_errors_are_one_line_on_stderr_without_traceback(tmp_path: Path) -> None:
    code, out, err = await run_cli(["pending", "--key-file", str(tmp_path / "none.json")])
    assert code == 1
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith("push-device: No device key file")
    assert "Traceback" not in err


async def test_bad_enrollment_uri_is_a_one_line_error(tmp_path: Path) -> None:
    code, _, err = await run_cli(
        ["enroll", "https://example.com", "--key-file", str(tmp_path / "k")]
    )
    assert code == 1
    assert err.startswith("push-device: Not an enrollment URI")


def test_main_returns_a_non_zero_status_on_failure(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["status", "--key-file", str(tmp_path / "absent.json")]) == 1
    assert capsys.readouterr().err.startswith("push-device: ")


async def test_respond_approve_without_number_is_refused_when_number_matching_is_on(
    running: Running, device: DeviceClient
) -> None:
    challenge = running.service.add_challenge()
    code, _, err = await run_cli(
        ["respond", challenge.challenge_id, "approve", "--key-file", str(device.key_file.path)]
    )
    assert code == 1
    assert "--number" in err
    assert challenge.status == "pending"


async def test_respond_approve_with_the_number_approves(
    running: Running, device: DeviceClient
) -> None:
    challenge = running.service.add_challenge(match_number="042")
    code, out, err = await run_cli(
        [
            "respond",
            challenge.challenge_id,
            "approve",
            "--number",
            "042",
            "--key-file",
            str(device.key_file.path),
        ]
    )
    assert code == 0, err
    assert challenge.status == "approved"
    assert "approved" in out


async def test_respond_fraud_reports_fraud(running: Running, device: DeviceClient) -> None:
    challenge = running.service.add_challenge()
    args = ["respond", challenge.challenge_id, "fraud", "--key-file", str(device.key_file.path)]
    code, _, err = await run_cli(args)
    assert code == 0, err
    assert (challenge.status, challenge.reason) == ("denied", "fraud_reported")


async def test_pending_json_lists_challenges(running: Running, device: DeviceClient) -> None:
    challenge = running.service.add_challenge()
    code, out, _ = await run_cli(["pending", "--json", "--key-file", str(device.key_file.path)])
    assert code == 0
    assert [c["challenge_id"] for c in json.loads(out)] == [challenge.challenge_id]


async def test_listen_auto_deny_once_denies_and_exits(
    running: Running, device: DeviceClient
) -> None:
    challenge = running.service.add_challenge()
    argv = ["listen", "--auto", "deny", "--once", "--key-file", str(device.key_file.path)]
    code, out, err = await asyncio.wait_for(run_cli(argv), 10)
    assert code == 0, err
    assert (challenge.status, challenge.reason) == ("denied", "user_denied")
    assert "Intranet: denied." in out


async def test_listen_auto_approve_leaves_number_matching_challenges_unanswered(
    running: Running, device: DeviceClient
) -> None:
    needs_number = running.service.add_challenge(number_matching=True)
    plain = running.service.add_challenge(number_matching=False, app_name="Wiki")
    argv = ["listen", "--auto", "approve", "--once", "--key-file", str(device.key_file.path)]
    code, out, err = await asyncio.wait_for(run_cli(argv), 10)
    assert code == 0, err
    assert needs_number.status == "pending"
    assert plain.status == "approved"
    assert "needs the number shown on the login screen" in out


async def test_listen_asks_and_approves_with_the_typed_number(
    running: Running, device: DeviceClient
) -> None:
    challenge = running.service.add_challenge(match_number="042")
    lines = ScriptedLines("a", "042")
    argv = ["listen", "--once", "--key-file", str(device.key_file.path)]
    code, out, err = await asyncio.wait_for(run_cli(argv, lines), 10)
    assert code == 0, err
    assert challenge.status == "approved"
    assert "Type the number shown on the login screen" in out
    assert "action: Sign in" in out
    assert "Expires in" in out


async def test_listen_says_when_the_typed_number_did_not_match(
    running: Running, device: DeviceClient
) -> None:
    challenge = running.service.add_challenge(match_number="042")
    argv = ["listen", "--once", "--key-file", str(device.key_file.path)]
    code, out, _ = await asyncio.wait_for(run_cli(argv, ScriptedLines("a", "999")), 10)
    assert code == 0
    assert (challenge.status, challenge.reason) == ("denied", "number_mismatch")
    assert "did not match" in out


async def test_listen_reasks_until_the_answer_is_understood(
    running: Running, device: DeviceClient
) -> None:
    challenge = running.service.add_challenge()
    argv = ["listen", "--once", "--key-file", str(device.key_file.path)]
    code, out, _ = await asyncio.wait_for(run_cli(argv, ScriptedLines("maybe", "f")), 10)
    assert code == 0
    assert "Please type a, d or f." in out
    assert challenge.reason == "fraud_reported"


def start_listen(device: DeviceClient, lines: ScriptedLines, out: io.StringIO) -> asyncio.Task[int]:
    argv = ["listen", "--key-file", str(device.key_file.path)]
    return asyncio.create_task(cli.run(argv, out=out, err=io.StringIO(), lines=lines))


async def stop(task: asyncio.Task[int]) -> None:
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_a_challenge_resolved_elsewhere_while_asked_is_announced_and_the_next_is_asked(
    running: Running, device: DeviceClient
) -> None:
    first = running.service.add_challenge(app_name="Intranet")
    running.service.add_challenge(app_name="Wiki")
    lines, out = ScriptedLines(), io.StringIO()
    task = start_listen(device, lines, out)
    try:
        await wait_for_text(out, "Answer: [a]pprove")
        await running.service.push(
            {"type": "resolved", "challenge_id": first.challenge_id, "status": "approved"}
        )
        await wait_for_text(out, "Sign-in request from Intranet was approved on another device.")
        await wait_for_text(out, "Sign-in request from Wiki (user alice)")
        assert lines.asked == 2
    finally:
        await stop(task)


async def test_a_challenge_resolved_elsewhere_before_its_turn_is_not_asked(
    running: Running, device: DeviceClient
) -> None:
    first = running.service.add_challenge(app_name="Intranet")
    second = running.service.add_challenge(app_name="Wiki")
    lines, out = ScriptedLines(), io.StringIO()
    task = start_listen(device, lines, out)
    try:
        await wait_for_text(out, "Answer: [a]pprove")
        await running.service.push(
            {"type": "resolved", "challenge_id": second.challenge_id, "status": "cancelled"}
        )
        await wait_for_text(out, "Sign-in request from Wiki was cancelled by the app.")
        lines.feed("d")
        await wait_for_text(out, "Intranet: denied.")
        await asyncio.sleep(0.1)
        assert first.status == "denied"
        assert "Sign-in request from Wiki (user" not in out.getvalue()
        assert lines.asked == 1  # only the Intranet question was asked
    finally:
        await stop(task)


async def test_listen_reconnects_by_itself_and_says_so(
    running: Running, device: DeviceClient
) -> None:
    running.service.script.close_after_ready = {0: 1011}
    out = io.StringIO()
    task = asyncio.create_task(
        cli.run(
            ["listen", "--auto", "deny", "--key-file", str(device.key_file.path)],
            out=out,
            err=io.StringIO(),
        )
    )
    try:
        await wait_for_text(out, "Reconnected.")
        assert "Connection lost" in out.getvalue()
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_listen_stops_with_an_error_when_the_device_is_revoked(
    running: Running, device: DeviceClient
) -> None:
    running.service.script.refuse_auth_with = 4403
    argv = ["listen", "--auto", "deny", "--key-file", str(device.key_file.path)]
    code, _, err = await asyncio.wait_for(run_cli(argv), 10)
    assert code == 1
    assert err.strip() == "push-device: This device has been revoked. (device_revoked)"


async def test_rotate_key_command_saves_a_key_the_service_accepts(
    running: Running, device: DeviceClient
) -> None:
    before = KeyFile.load(device.key_file.path).key.public_jwk()
    code, _, err = await run_cli(["rotate-key", "--key-file", str(device.key_file.path)])
    assert code == 0, err
    assert KeyFile.load(device.key_file.path).key.public_jwk() != before
    code, out, err = await run_cli(["status", "--key-file", str(device.key_file.path)])
    assert code == 0, err
    assert "accepted by the service" in out


async def test_revoke_without_yes_and_without_a_terminal_is_refused(
    running: Running, device: DeviceClient
) -> None:
    code, _, err = await run_cli(["revoke", "--key-file", str(device.key_file.path)])
    assert code == 1
    assert "--yes" in err
    assert not running.service.devices[device.device_id].revoked


async def test_revoke_yes_revokes_and_deletes_the_key_file(
    running: Running, device: DeviceClient
) -> None:
    path = device.key_file.path
    code, _, err = await run_cli(["revoke", "--yes", "--key-file", str(path)])
    assert code == 0, err
    assert running.service.devices[device.device_id].revoked
    assert not path.exists()
