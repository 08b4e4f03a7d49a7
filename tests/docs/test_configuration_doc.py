"""docs/configuration.md lists every setting the service reads, and no other."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_setting_is_documented_and_every_documented_setting_exists() -> None:
    source = (ROOT / "push_service" / "config.py").read_text()
    read = set(re.findall(r'"(PUSH_[A-Z_]+)"', source))
    documented = set(
        re.findall(r"`(PUSH_[A-Z_]+)`", (ROOT / "docs" / "configuration.md").read_text())
    )
    assert read - documented == set(), "settings missing from docs/configuration.md"
    assert documented - read == set(), "docs/configuration.md names settings that do not exist"
