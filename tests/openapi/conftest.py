"""Shows what the fuzzer did (cases, operations, time, statuses) in the run's closing summary."""

from __future__ import annotations

import pytest

FUZZ_SUMMARY = pytest.StashKey[list[str]]()


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    summaries = config.stash.get(FUZZ_SUMMARY, [])
    if summaries:
        terminalreporter.write_sep("-", "openapi fuzz")
        for line in summaries:
            terminalreporter.write_line(line)
