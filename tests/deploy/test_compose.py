"""deploy/compose.yaml: three instances on one durable Redis, secrets only from the environment."""

from __future__ import annotations

import re

from tests.deploy.files import (
    DEPLOY,
    LONGEST_WAIT,
    SECRET_NAME,
    SECRET_SETTINGS,
    compose,
    haproxy_lines,
    push_services,
    seconds,
)

INTERPOLATION = re.compile(r"\$\{(\w+)(:?[-?+])?([^}]*)\}")


def _redis_flags() -> dict[str, str]:
    command = compose()["services"]["redis"]["command"]
    assert command[0] == "redis-server"
    return {flag[2:]: str(value) for flag, value in zip(command[1::2], command[2::2], strict=True)}


def test_three_instances_share_one_configuration() -> None:
    services = push_services()
    assert len(services) == 3
    environments = [service["environment"] for service in services.values()]
    assert all(env == environments[0] for env in environments)
    assert SECRET_SETTINGS | {"PUSH_PUBLIC_URL"} <= environments[0].keys()


def _required(value: str) -> bool:
    found = INTERPOLATION.fullmatch(value)
    return found is not None and found[2] == ":?"


def test_secrets_are_required_variables_never_literals() -> None:
    env = next(iter(push_services().values()))["environment"]
    assert _required(env["PUSH_ADMIN_TOKEN"])
    assert _required(env["PUSH_MATCH_KEY"])
    password = re.fullmatch(r"redis://:(.*)@redis:6379/\d+", env["PUSH_REDIS_URL"])
    assert password is not None
    assert _required(password[1])
    assert _required(_redis_flags()["requirepass"])
    for name, operator, _ in INTERPOLATION.findall((DEPLOY / "compose.yaml").read_text()):
        if SECRET_NAME.search(name):
            assert operator == ":?", f"${{{name}}} must fail when unset or empty, not default"


def test_env_example_lists_every_variable_and_fills_in_no_secret() -> None:
    example = {}
    for line in (DEPLOY / "env.example").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, value = line.partition("=")
            example[name.strip()] = value.strip()
    used = {name for name, _, _ in INTERPOLATION.findall((DEPLOY / "compose.yaml").read_text())}
    assert used == example.keys()
    for name, value in example.items():
        if SECRET_NAME.search(name):
            assert value == "", f"{name} must be left for the operator to fill in"


def test_redis_appends_every_write_and_never_evicts() -> None:
    redis = compose()["services"]["redis"]
    assert redis["image"].startswith("redis:7")
    flags = _redis_flags()
    assert flags["appendonly"] == "yes"
    assert flags["appendfsync"] in {"everysec", "always"}
    assert flags["maxmemory-policy"] == "noeviction"
    assert "maxmemory" in flags, "noeviction only applies under a memory limit"
    assert flags["save"], "RDB snapshots, for backups"


def test_redis_data_is_on_a_named_volume_and_not_published() -> None:
    document = compose()
    redis = document["services"]["redis"]
    volume = next(v for v in redis["volumes"] if v.endswith(":/data")).partition(":")[0]
    assert volume in document["volumes"]
    assert "ports" not in redis
    assert all(document["networks"][net].get("internal") for net in redis["networks"])


def test_instances_wait_for_a_healthy_redis() -> None:
    redis = compose()["services"]["redis"]
    assert "PONG" in " ".join(redis["healthcheck"]["test"])
    for service in push_services().values():
        assert service["depends_on"]["redis"]["condition"] == "service_healthy"


def test_instances_get_time_to_finish_long_polls() -> None:
    for service in push_services().values():
        assert seconds(service["stop_grace_period"]) > LONGEST_WAIT


def test_instances_are_locked_down() -> None:
    for service in push_services().values():
        assert service["read_only"] is True
        assert service["cap_drop"] == ["ALL"]
        assert "no-new-privileges:true" in service["security_opt"]


def test_load_balancer_fronts_every_instance_and_is_the_public_url() -> None:
    lb = compose()["services"]["lb"]
    assert any(volume.startswith("./haproxy.cfg:") for volume in lb["volumes"])
    servers = {words[1]: words[2] for words in haproxy_lines("backend push", "server")}
    assert set(servers) == set(push_services())
    assert all(address == f"{name}:8080" for name, address in servers.items())
    published = lb["ports"][0].split(":")[0]
    env = next(iter(push_services().values()))["environment"]
    assert env["PUSH_PUBLIC_URL"].endswith(f"localhost:{published}}}")
