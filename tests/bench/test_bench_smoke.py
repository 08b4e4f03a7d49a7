"""Each benchmark runs end to end in its quick mode, with tiny loads, and prints a complete and
sane report. No speed is asserted: the machine running the tests may be busy with anything."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
RUN_SECONDS = 200


def run_bench(name: str, *args: str) -> dict[str, Any]:
    """Run `python -m bench.<name> --quick ...`; return its last line, parsed."""
    done = subprocess.run(
        [sys.executable, "-m", f"bench.{name}", "--quick", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=RUN_SECONDS,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    lines = done.stdout.strip().splitlines()
    assert len(lines) >= 3, done.stdout  # a title, table rows, then the figures
    figures = json.loads(lines[-1])
    assert isinstance(figures, dict)
    return figures


def assert_ordered(spread: dict[str, float]) -> None:
    """p50 <= p95 <= p99, all finite; p95 where the figure has one."""
    values = [spread[name] for name in ("p50", "p95", "p99") if name in spread]
    assert len(values) >= 2, spread
    assert all(math.isfinite(value) for value in values), spread
    assert values == sorted(values), spread


def assert_positive(figures: dict[str, Any], *names: str) -> None:
    for name in names:
        assert figures[name] > 0, name


@pytest.mark.timeout(240)
def test_flows() -> None:
    figures = run_bench("flows")
    assert_positive(figures, "flows", "flows_per_second", "server_cpu_us_per_flow", "seconds")
    assert_positive(figures, "load_generator_cpu_us_per_flow")
    assert figures["errors"] == 0
    assert_ordered(figures["create_to_phone_ms"])
    assert_ordered(figures["create_to_decision_ms"])
    assert "p95" in figures["create_to_decision_ms"]
    assert_against_limit(figures)


def assert_against_limit(figures: dict[str, Any]) -> None:
    """The floor was measured in the same run, and the service spent more than it."""
    assert_positive(figures, "limit_us_per_flow", "limit_flows_per_second_per_core")
    assert 0 < figures["fraction_of_limit"] < 1
    expected = figures["limit_us_per_flow"] / figures["server_cpu_us_per_flow"]
    assert figures["fraction_of_limit"] == pytest.approx(expected, abs=0.01)


@pytest.mark.timeout(240)
def test_flows_on_redis_over_two_instances() -> None:
    figures = run_bench("flows", "--redis", "--instances", "2")
    assert figures["engine"] == "redis"
    assert figures["instances"] == 2
    assert figures["errors"] == 0, figures["first_error"]
    assert_positive(figures, "flows", "redis_round_trips_per_flow", "redis_server_cpu_us_per_flow")
    assert figures["redis_background_per_flow"] >= 0
    assert_against_limit(figures)


@pytest.mark.timeout(240)
def test_flows_open_loop() -> None:
    figures = run_bench("flows", "--rate", "40")
    assert figures["offered_per_second"] == 40
    assert_positive(figures, "flows", "flows_per_second", "server_cpu_us_per_flow", "seconds")
    assert_positive(figures, "load_generator_cpu_us_per_flow")
    assert figures["errors"] == 0, figures["first_error"]
    assert figures["drain_seconds"] >= 0
    for name in ("create_to_phone_ms", "create_to_decision_ms", "start_lag_ms"):
        assert set(figures[name]) == {"p50", "p95", "p99"}, name
        assert_ordered(figures[name])


@pytest.mark.timeout(240)
def test_load_curve(tmp_path: Path) -> None:
    out = tmp_path / "curve.png"
    figures = run_bench("load_curve", "--out", str(out))
    assert figures["plot"] == str(out)
    data = out.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(data) > 10_000  # two panels of lines and text, not an empty canvas
    steps = figures["steps"]
    wanted = {(engine, rate) for engine in ("memory", "redis") for rate in figures["rates"]}
    assert len(figures["rates"]) == 2
    assert len(steps) == len(wanted)
    assert {(step["engine"], step["offered_per_second"]) for step in steps} == wanted
    for step in steps:
        assert step["errors"] == 0, step["first_error"]
        assert step["flows_per_second"] > 0
        assert_ordered(step["create_to_phone_ms"])
        assert_ordered(step["create_to_decision_ms"])


@pytest.mark.timeout(240)
def test_connections() -> None:
    figures = run_bench("connections", "--phones", "200", "--challenges", "20")
    assert figures["phones"] == figures["connected"] == figures["server_streams"] == 200
    assert figures["challenges"] == 20
    assert figures["errors"] == figures["connect_errors"] == figures["probe_errors"] == 0
    assert figures["first_error"] is None
    assert not figures["capped_by_open_files"]
    assert_positive(figures, "connect_seconds", "connects_per_second", "server_rss_after_mb")
    assert figures["client_open_files"]["soft"] >= 200
    for name in ("server_rss_per_connection_kb", "client_rss_per_connection_kb"):
        assert math.isfinite(figures[name])
    assert_ordered(figures["create_to_phone_ms"])


@pytest.mark.timeout(240)
def test_webhooks() -> None:
    figures = run_bench("webhooks")
    assert_positive(figures, "challenges", "cancels_per_second", "deliveries_per_second")
    assert figures["deliveries"] == figures["challenges"]
    for name in ("missing", "errors", "bad_signatures"):
        assert figures[name] == 0, name
    assert figures["ended_by"] == "cancel"
    assert_ordered(figures["decision_to_delivery_ms"])


@pytest.mark.timeout(240)
def test_limit() -> None:
    figures = run_bench("limit")
    assert_positive(figures, "ed25519_verify_us", "jwt_decode_us", "service_token_check_us")
    assert_positive(figures, "ed25519_verify_libsodium_us")
    assert figures["service_signatures"] == "libsodium"
    for kind in ("http", "ws"):
        assert_positive(figures[kind], "rtt_us_p50", "per_second", "server_cpu_us")
    assert figures["redis"] is None
    assert_positive(figures, "floor_us_per_flow", "floor_flows_per_second_per_core")
    assert figures["flow"] == {
        "http_requests": 2,
        "ws_frames": 3,
        "token_checks": 1,
        "redis_round_trips": 4,
    }
    assert "floor_redis_us_per_flow" not in figures


@pytest.mark.timeout(240)
def test_limit_on_redis() -> None:
    figures = run_bench("limit", "--redis")
    assert_positive(figures["redis"], "rtt_us_p50", "per_second", "client_cpu_us")
    assert_positive(figures["redis"], "bare_client_cpu_us")
    assert figures["floor_redis_us_per_flow"] > figures["floor_us_per_flow"]
    assert figures["floor_redis_flows_per_second_per_core"] > 0
