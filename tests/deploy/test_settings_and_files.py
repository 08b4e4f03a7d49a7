"""Every deployment file parses, and names only settings push_service/config.py really reads."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.deploy.files import (
    DEPLOY,
    OPERATIONS,
    PUSH_NAME,
    ROOT,
    load_yaml,
    setting_names,
)

YAML_FILES = sorted([*DEPLOY.rglob("*.yaml"), *DEPLOY.rglob("*.yml")])
NAMED_FILES = sorted(
    [path for path in DEPLOY.rglob("*") if path.is_file()] + [OPERATIONS, ROOT / ".dockerignore"]
)


def _ids(paths: list[Path]) -> list[str]:
    return [path.relative_to(ROOT).as_posix() for path in paths]


def test_config_names_are_read_from_the_source() -> None:
    assert {"PUSH_REDIS_URL", "PUSH_ADMIN_TOKEN", "PUSH_MATCH_KEY", "PUSH_PUBLIC_URL"} <= (
        setting_names()
    )


@pytest.mark.parametrize("path", YAML_FILES, ids=_ids(YAML_FILES))
def test_yaml_parses_to_a_mapping(path: Path) -> None:
    assert isinstance(load_yaml(path), dict)


@pytest.mark.parametrize("path", NAMED_FILES, ids=_ids(NAMED_FILES))
def test_every_push_variable_is_a_setting(path: Path) -> None:
    unknown = set(PUSH_NAME.findall(path.read_text())) - setting_names()
    assert not unknown, f"not read by push_service/config.py: {sorted(unknown)}"


def test_operations_guide_links_outside_docs_resolve() -> None:
    # Links to sibling pages in docs/ are left to their authors; these point at this repository.
    for target in re.findall(r"\]\((\.\./[^)#]*)", OPERATIONS.read_text()):
        assert (OPERATIONS.parent / target).exists(), target
