"""The Grafana dashboard queries only metrics the service exports."""

from __future__ import annotations

import json
import re
from pathlib import Path

from push_service.metrics import Metrics

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana-dashboard.json"
SUFFIXES = ("_total", "_bucket", "_count", "_sum", "_created")


def _exported() -> set[str]:
    names = set()
    for metric in Metrics().registry.collect():
        names.add(metric.name)
        names.update(sample.name for sample in metric.samples)
        names.update(metric.name + suffix for suffix in SUFFIXES)
    return names


def test_every_panel_queries_exported_metrics() -> None:
    panels = json.loads(DASHBOARD.read_text())["panels"]
    exported = _exported()
    queried = {
        name
        for panel in panels
        for target in panel["targets"]
        for name in re.findall(r"\bpush_[a-z_]+", target["expr"])
    }
    assert queried
    assert queried <= exported, f"unknown metrics: {sorted(queried - exported)}"


def test_panels_have_unique_ids_and_a_datasource_variable() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    assert dashboard["templating"]["list"][0]["type"] == "datasource"
