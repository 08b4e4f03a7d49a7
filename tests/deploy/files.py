"""Readers for the deployment files, which cannot be run here (no container engine): each file is
parsed the way its tool would read it, far enough for the tests to check what matters.
"""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
KUBERNETES = DEPLOY / "kubernetes"
OPERATIONS = ROOT / "docs" / "operations.md"

LONGEST_WAIT = 60
"""The longest long-poll (`?wait=60`), in seconds: the contract's upper bound."""

SECRET_SETTINGS = frozenset({"PUSH_ADMIN_TOKEN", "PUSH_MATCH_KEY", "PUSH_REDIS_URL"})
SECRET_NAME = re.compile(r"TOKEN|SECRET|PASSWORD|PASSWD|KEY|CREDENTIAL", re.IGNORECASE)
PUSH_NAME = re.compile(r"\bPUSH_[A-Z0-9_]*[A-Z0-9]\b")


@cache
def setting_names() -> frozenset[str]:
    """Every `PUSH_*` name that push_service/config.py reads, taken from its source."""
    tree = ast.parse((ROOT / "push_service" / "config.py").read_text())
    return frozenset(
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and re.fullmatch(r"PUSH_[A-Z0-9_]+", node.value)
    )


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def manifests() -> dict[str, dict[str, Any]]:
    """The Kubernetes manifests by kind (one object per file)."""
    found = {}
    for path in sorted(KUBERNETES.glob("*.yaml")):
        document = load_yaml(path)
        found[document["kind"]] = document
    return found


def compose() -> dict[str, Any]:
    document: dict[str, Any] = load_yaml(DEPLOY / "compose.yaml")
    return document


def push_services() -> dict[str, dict[str, Any]]:
    """The compose services built from the project's Dockerfile."""
    services = compose()["services"]
    return {
        name: service
        for name, service in services.items()
        if service.get("build", {}).get("dockerfile") == "deploy/Dockerfile"
    }


def seconds(value: str | int) -> float:
    """A duration as compose (`1m30s`) or HAProxy (`75s`, `1h`, bare milliseconds) writes it."""
    if isinstance(value, int):
        return value / 1000
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "": 0.001}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|)", value.strip())
    assert parts, f"not a duration: {value!r}"
    return sum(float(number) * units[unit] for number, unit in parts)


# Dockerfile


def dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined and comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for line in (DEPLOY / "Dockerfile").read_text().splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        keyword, _, arguments = (pending + stripped).partition(" ")
        instructions.append((keyword.upper(), arguments.strip()))
        pending = ""
    return instructions


def stages() -> list[list[tuple[str, str]]]:
    """The build stages, each starting with its FROM; global ARGs before the first are dropped."""
    found: list[list[tuple[str, str]]] = []
    for instruction in dockerfile():
        if instruction[0] == "FROM":
            found.append([])
        if found:
            found[-1].append(instruction)
    return found


def global_args() -> dict[str, str]:
    values = {}
    for keyword, arguments in dockerfile():
        if keyword == "FROM":
            break
        if keyword == "ARG":
            name, _, default = arguments.partition("=")
            values[name] = default
    return values


def runtime_uid() -> int:
    user = next(args for keyword, args in stages()[-1] if keyword == "USER")
    return int(user.partition(":")[0])


# .dockerignore


def _pattern(text: str) -> re.Pattern[str]:
    """A .dockerignore pattern as a regex: `**` crosses directories, `*` and `?` do not."""
    out, i = "", 0
    while i < len(text):
        if text.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif text.startswith("**", i):
            out, i = out + ".*", i + 2
        elif text[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif text[i] == "?":
            out, i = out + "[^/]", i + 1
        elif text[i] == "[":
            end = text.index("]", i)
            out, i = out + text[i : end + 1], end + 1
        else:
            out, i = out + re.escape(text[i]), i + 1
    return re.compile(out)


def dockerignore() -> list[tuple[bool, re.Pattern[str]]]:
    """(is_exception, pattern) in file order; the last pattern that matches decides."""
    rules = []
    for line in (ROOT / ".dockerignore").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        exception = line.startswith("!")
        rules.append((exception, _pattern(line.lstrip("!").strip("/"))))
    return rules


def in_build_context(relative: str) -> bool:
    """Whether the file or directory at this path is sent to the builder.

    As Docker does, a pattern matching a parent directory matches everything under it.
    """
    parts = relative.strip("/").split("/")
    candidates = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    excluded = False
    for exception, pattern in dockerignore():
        if any(pattern.fullmatch(candidate) for candidate in candidates):
            excluded = not exception
    return not excluded


# haproxy.cfg

_SECTIONS = frozenset(
    {"global", "defaults", "frontend", "backend", "listen", "resolvers", "peers", "userlist"}
)


def haproxy() -> dict[str, list[list[str]]]:
    """Sections (`"backend push"`) to their lines, each split into words, comments dropped."""
    sections: dict[str, list[list[str]]] = {}
    current: list[list[str]] | None = None
    for line in (DEPLOY / "haproxy.cfg").read_text().splitlines():
        words = line.split("#", 1)[0].split()
        if not words:
            continue
        if words[0] in _SECTIONS:
            current = sections.setdefault(" ".join(words), [])
        else:
            assert current is not None, f"directive outside a section: {line!r}"
            current.append(words)
    return sections


def haproxy_lines(section: str, first: str) -> list[list[str]]:
    """The lines of a section that start with the given words."""
    want = first.split()
    return [words for words in haproxy()[section] if words[: len(want)] == want]


def haproxy_timeout(name: str) -> float:
    found = haproxy_lines("defaults", f"timeout {name}")
    assert len(found) == 1, f"expected one 'timeout {name}' in defaults"
    return seconds(found[0][2])
