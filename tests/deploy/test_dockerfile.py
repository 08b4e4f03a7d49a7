"""deploy/Dockerfile and .dockerignore: a small non-root image with nothing secret in it."""

from __future__ import annotations

import json
import os
import re
import tomllib
from pathlib import Path

from tests.deploy.files import (
    ROOT,
    SECRET_NAME,
    dockerfile,
    global_args,
    in_build_context,
    runtime_uid,
    stages,
)


def _in(stage: list[tuple[str, str]], keyword: str) -> list[str]:
    return [arguments for found, arguments in stage if found == keyword]


def test_build_has_stages_on_slim_python_311() -> None:
    args = global_args()
    images = [
        re.sub(r"\$\{?(\w+)\}?", lambda m: args[m[1]], line.split()[0])
        for stage in stages()
        for line in _in(stage, "FROM")
    ]
    assert len(images) >= 2
    assert all(image.startswith("python:3.11-slim") for image in images), images


def test_project_is_installed_from_source_with_only_the_fast_extra() -> None:
    installs = [run for run in _in(stages()[0], "RUN") if "pip install" in run]
    assert installs, "the build stage installs the project"
    assert all(re.search(r'pip install "\.\[fast\]"(\s|$)', run) for run in installs), installs
    assert not any("dev" in run or " -e " in run for run in installs)


def test_runtime_stage_only_copies_the_built_environment() -> None:
    copies = _in(stages()[-1], "COPY")
    assert copies
    assert all(copy.startswith("--from=") for copy in copies), copies


def test_runs_as_a_fixed_non_root_uid() -> None:
    runtime = stages()[-1]
    uid = runtime_uid()
    assert uid >= 1000
    assert any(f"--uid {uid}" in run for run in _in(runtime, "RUN")), "the user is created"


def test_exposes_8080_and_serves_there_on_every_interface() -> None:
    runtime = stages()[-1]
    assert _in(runtime, "EXPOSE") == ["8080"]
    (entrypoint,) = _in(runtime, "ENTRYPOINT")
    assert json.loads(entrypoint) == [
        "push-service",
        "serve",
        "--host",
        "0.0.0.0",
        "--port",
        "8080",
    ]


def test_healthcheck_asks_healthz_with_the_interpreter() -> None:
    (check,) = _in(stages()[-1], "HEALTHCHECK")
    command = json.loads(check.partition("CMD")[2])
    assert command[0] == "python"
    assert "urllib.request" in command[-1]
    assert "http://127.0.0.1:8080/healthz" in command[-1]
    assert "timeout=" in command[-1], "a hung server must fail the check, not block it"


def test_stop_signal_is_sigterm() -> None:
    assert _in(stages()[-1], "STOPSIGNAL") == ["SIGTERM"]


def test_nothing_is_fetched_with_add() -> None:
    for keyword, arguments in dockerfile():
        if keyword == "ADD":
            assert not re.search(r"https?://|git@", arguments), arguments


def test_no_secret_or_setting_is_baked_in() -> None:
    for keyword, arguments in dockerfile():
        if keyword in {"ENV", "ARG", "LABEL"}:
            names = re.findall(r"(\w+)=", arguments) or [arguments.split()[0]]
            assert not any(SECRET_NAME.search(name) for name in names), arguments
            assert "PUSH_" not in arguments, "settings belong to the runtime, not the image"
        if keyword == "COPY":
            assert ".env" not in arguments
            assert "key.json" not in arguments


def test_build_context_holds_what_the_dockerfile_copies() -> None:
    sources = [
        source
        for keyword, arguments in dockerfile()
        if keyword == "COPY" and not arguments.startswith("--from=")
        for source in arguments.split()[:-1]
    ]
    readme = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["readme"]
    assert readme in sources, "pip install . reads the readme named in pyproject.toml"
    for source in sources:
        assert (ROOT / source).exists(), source
        assert in_build_context(source), source
        for path in _files(ROOT / source):
            if "__pycache__" not in path.parts and path.suffix != ".pyc":
                assert in_build_context(path.relative_to(ROOT).as_posix()), path


def test_build_context_leaves_out_local_state() -> None:
    for path in [
        ".git/config",
        ".venv/bin/python",
        ".env",
        "deploy/.env",
        "alice.key.json",
        "tests/conftest.py",
        "push_service/__pycache__/app.cpython-311.pyc",
        "build/lib/push_service/app.py",
        "push_approval.egg-info/PKG-INFO",
    ]:
        assert not in_build_context(path), path


def _files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    return [Path(top) / name for top, _, names in os.walk(path) for name in names]
