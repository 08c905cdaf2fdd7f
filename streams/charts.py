"""The portfolio picture: both quadrant charts with every account placed in them.

Written as a PNG (matplotlib, headless) and an HTML page that embeds it with
the counts per quadrant, from rows read back from ClickHouse.
"""

from __future__ import annotations

import base64
import html
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from streams.extras import MissingExtra

try:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
except ImportError as exc:
    raise MissingExtra("matplotlib", "drawing the portfolio charts") from exc

SUCCESS_COLORS = {
    "customer_success": "#2e7d32",
    "work_to_keep:flight_risk": "#ef6c00",
    "work_to_keep:unprofitable": "#1565c0",
    "reassess": "#c62828",
}
READINESS_COLORS = {
    "achiever": "#2e7d32",
    "soldier": "#6a1b9a",
    "dreamer": "#1565c0",
    "wanderer": "#8d6e63",
}


@dataclass(frozen=True)
class AccountPoint:
    account_id: str
    customer_happiness: float | None
    company_happiness: float | None
    success_quadrant: str | None
    goal_clarity: float | None
    priority: float | None
    readiness_quadrant: str | None


@dataclass(frozen=True)
class Quadrant:
    """One chart: axes, where the borders are, and the label of each corner."""

    title: str
    x_label: str
    y_label: str
    limits: tuple[float, float]
    x_border: float
    y_border: float
    corners: dict[str, str]  # "top_right" etc. -> class name
    colors: dict[str, str]


def success_chart(customer_border: float, company_border: float) -> Quadrant:
    return Quadrant(
        "Success quadrant (seed 002)", "customer happiness", "company happiness (profitability)",
        (-1.05, 1.05), customer_border, company_border,
        {"top_right": "customer_success", "top_left": "work_to_keep:flight_risk",
         "bottom_right": "work_to_keep:unprofitable", "bottom_left": "reassess"},
        SUCCESS_COLORS,
    )  # fmt: skip


def readiness_chart(clarity_border: float, priority_border: float) -> Quadrant:
    return Quadrant(
        "Readiness quadrant (seed 000)", "goal clarity", "priority",
        (-0.03, 1.03), clarity_border, priority_border,
        {"top_right": "achiever", "top_left": "soldier", "bottom_right": "dreamer",
         "bottom_left": "wanderer"},
        READINESS_COLORS,
    )  # fmt: skip


def _draw(ax, quadrant: Quadrant, points: list[tuple[float, float, str]]) -> None:  # type: ignore[no-untyped-def]
    lo, hi = quadrant.limits
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.axvline(quadrant.x_border, color="#555", lw=1)
    ax.axhline(quadrant.y_border, color="#555", lw=1)
    counts = Counter(name for _, _, name in points)
    for name, color in quadrant.colors.items():
        xs = [x for x, _, n in points if n == name]
        ys = [y for _, y, n in points if n == name]
        ax.scatter(xs, ys, s=9, alpha=0.6, color=color, label=f"{name} ({counts[name]})")
    pad = (hi - lo) * 0.03
    spots = {
        "top_right": (hi - pad, hi - pad, "right", "top"),
        "top_left": (lo + pad, hi - pad, "left", "top"),
        "bottom_right": (hi - pad, lo + pad, "right", "bottom"),
        "bottom_left": (lo + pad, lo + pad, "left", "bottom"),
    }
    for corner, name in quadrant.corners.items():
        x, y, ha, va = spots[corner]
        ax.text(x, y, name.replace("work_to_keep:", "work to keep:\n").replace("_", " "),
                ha=ha, va=va, fontsize=10, weight="bold", color=quadrant.colors[name],
                bbox={"facecolor": "white", "alpha": 0.8, "edgecolor": "none"})  # fmt: skip
    ax.set_title(f"{quadrant.title}: {len(points)} accounts")
    ax.set_xlabel(quadrant.x_label)
    ax.set_ylabel(quadrant.y_label)
    ax.legend(loc="center left", bbox_to_anchor=(0.0, -0.28), ncol=2, fontsize=8, frameon=False)


def render(
    accounts: Sequence[AccountPoint], success: Quadrant, readiness: Quadrant, png: Path
) -> dict[str, Counter[str]]:
    """Draw both charts into one PNG; return the counts per quadrant."""
    s_points = [
        (a.customer_happiness, a.company_happiness, a.success_quadrant)
        for a in accounts
        if a.customer_happiness is not None
        and a.company_happiness is not None
        and a.success_quadrant
    ]
    r_points = [
        (a.goal_clarity, a.priority, a.readiness_quadrant)
        for a in accounts
        if a.goal_clarity is not None and a.priority is not None and a.readiness_quadrant
    ]
    fig, axes = plt.subplots(1, 2, figsize=(14, 7.6))
    _draw(axes[0], success, s_points)  # type: ignore[arg-type]
    _draw(axes[1], readiness, r_points)  # type: ignore[arg-type]
    fig.suptitle(f"healthscore portfolio: {len(accounts)} accounts", fontsize=14)
    fig.tight_layout()
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png, dpi=110)
    plt.close(fig)
    return {
        "success": Counter(n for _, _, n in s_points),
        "readiness": Counter(n for _, _, n in r_points),
    }


def write_html(
    png: Path, counts: dict[str, Counter[str]], summary: Sequence[str], out: Path
) -> None:
    image = base64.b64encode(png.read_bytes()).decode()
    tables = "".join(
        f"<h2>{html.escape(chart)} quadrant</h2><table>"
        + "".join(
            f"<tr><td>{html.escape(name)}</td><td>{n}</td></tr>" for name, n in sorted(c.items())
        )
        + "</table>"
        for chart, c in counts.items()
    )
    lines = "".join(f"<li>{html.escape(line)}</li>" for line in summary)
    out.write_text(
        "<!doctype html><html><head><meta charset='utf-8'><title>healthscore portfolio</title>"
        "<style>body{font-family:sans-serif;margin:2em}td{padding:2px 12px}</style></head>"
        f"<body><h1>healthscore portfolio</h1><ul>{lines}</ul>"
        f"<img alt='quadrant charts' style='max-width:100%' src='data:image/png;base64,{image}'>"
        f"{tables}</body></html>",
        encoding="utf-8",
    )
