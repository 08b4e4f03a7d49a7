"""Latency against offered load: flows.py's open loop at a series of rates, for the in-process
and the Redis engine, drawn on one figure.

Each step starts fresh services (and, for Redis, a fresh private redis-server), so no step
inherits the state or the backlog of the one before.

    python -m bench.load_curve --rates 100,200,500,1000 --seconds 10
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import LogFormatter, StrMethodFormatter

from .flows import OPEN_LOOP_PHONES, QUICK_OPEN_LOOP_PHONES, run_flows, show_spread
from .harness import report

RATES = (100, 200, 300, 500, 700, 1000, 1400, 2000)
QUICK_RATES = (20, 50)
ENGINES = {"memory": "tab:blue", "redis": "tab:red"}
APPS = 10
DEFAULT_OUT = Path(__file__).resolve().parents[1] / "docs" / "latency-vs-load.png"
# Achieved throughput under this share of the offered load is marked on the plot: the service
# no longer keeps up, and the latency there is mostly the backlog.
SHORTFALL = 0.95
PANELS = (("create_to_phone_ms", "create → phone"), ("create_to_decision_ms", "create → decision"))


def measure_curve(rates: Sequence[float], seconds: float, phones: int) -> list[dict[str, Any]]:
    """One open-loop step per engine per rate, in that order."""
    return [
        run_flows(
            apps=APPS,
            phones=phones,
            seconds=seconds,
            private_redis=engine == "redis",
            rate=rate,
        )
        for engine in ENGINES
        for rate in rates
    ]


def plot(steps: list[dict[str, Any]], out: Path) -> None:
    figure = Figure(figsize=(12, 5), layout="constrained")
    FigureCanvasAgg(figure)  # drawn off-screen, without pyplot's global state
    panels = figure.subplots(1, len(PANELS), sharey=True)
    for axes, (name, title) in zip(panels, PANELS, strict=True):
        for engine, color in ENGINES.items():
            _draw_engine(axes, [s for s in steps if s["engine"] == engine], name, engine, color)
        axes.set(title=title, xlabel="offered load (flows/s)", yscale="log")
        # Plain milliseconds read better than powers of ten.
        axes.yaxis.set_major_formatter(StrMethodFormatter("{x:g}"))
        axes.yaxis.set_minor_formatter(LogFormatter(labelOnlyBase=False, minor_thresholds=(1, 0.5)))
        axes.margins(y=0.1)
        axes.grid(True, which="both", alpha=0.3)
    panels[0].set_ylabel("latency from the scheduled start (ms)")
    handles, labels = panels[0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="outside lower center", ncols=3, fontsize="small")
    figure.suptitle("Push approval: latency against offered load (open loop)")
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, dpi=120)


def _draw_engine(
    axes: Axes, steps: list[dict[str, Any]], name: str, engine: str, color: str
) -> None:
    offered = [s["offered_per_second"] for s in steps]
    for quantile, style in (("p50", "-o"), ("p99", "--s")):
        latency = [s[name][quantile] for s in steps]
        axes.plot(offered, latency, style, color=color, label=f"{engine} {quantile}")
    short = [s for s in steps if s["flows_per_second"] < SHORTFALL * s["offered_per_second"]]
    if not short:
        return
    axes.scatter(
        [s["offered_per_second"] for s in short],
        [s[name]["p99"] for s in short],
        s=180,
        facecolors="none",
        edgecolors=color,
        label=f"{engine}: achieved < offered (flows/s noted)",
    )
    for s in short:
        axes.annotate(
            f"{s['flows_per_second']:.0f}/s",
            (s["offered_per_second"], s[name]["p99"]),
            textcoords="offset points",
            xytext=(6, 8),
            fontsize="x-small",
            color=color,
        )


def _row(step: dict[str, Any]) -> tuple[str, str]:
    name = f"{step['engine']} {step['offered_per_second']:g}/s"
    text = (
        f"achieved {step['flows_per_second']}/s, {step['errors']} errors;"
        f"  phone {show_spread(step['create_to_phone_ms'])};"
        f"  decision {show_spread(step['create_to_decision_ms'])}"
    )
    return name, text


def _rates(text: str) -> list[float]:
    rates = [float(part) for part in text.split(",") if part.strip()]
    if not rates or min(rates) <= 0:
        raise argparse.ArgumentTypeError("a comma-separated list of positive rates")
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--rates",
        type=_rates,
        default=list(RATES),
        help="offered flows a second, comma-separated (default: %(default)s)",
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="of load at each rate")
    parser.add_argument("--phones", type=int, default=OPEN_LOOP_PHONES)
    parser.add_argument("--out", type=Path, help=f"the plot (default: {DEFAULT_OUT})")
    parser.add_argument("--quick", action="store_true", help="two small rates, for smoke tests")
    args = parser.parse_args()
    if args.quick:
        args.rates, args.seconds = list(QUICK_RATES), 2.0
        args.phones = min(args.phones, QUICK_OPEN_LOOP_PHONES)
    out = args.out or (_temp_png() if args.quick else DEFAULT_OUT)
    steps = measure_curve(args.rates, args.seconds, args.phones)
    plot(steps, out)
    rows = [_row(step) for step in steps] + [("plot", str(out))]
    figures = {"rates": args.rates, "seconds": args.seconds, "steps": steps, "plot": str(out)}
    report("Latency against offered load (ms, from the scheduled start)", rows, figures)


def _temp_png() -> Path:
    with tempfile.NamedTemporaryFile(prefix="latency-vs-load-", suffix=".png", delete=False) as f:
        return Path(f.name)


if __name__ == "__main__":
    main()
