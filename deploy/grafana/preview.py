#!/usr/bin/env python3
"""Draw the Grafana dashboard's panels from a Prometheus, without Grafana.

Where Grafana cannot be installed (this project's build machines reach
PyPI, Debian and npm only, and none carries a Grafana server), this runs
every query of ``dashboards/ticketing.json`` against a Prometheus over a
time range and writes one HTML page of SVG line charts laid out as the
dashboard is: a check that each query answers, and a picture of it
(``docs/screenshots/24-onsale-dashboard.png`` was taken of this page with
headless Chromium during ``bench/onsale.py``). Standard library only.

    python deploy/grafana/preview.py http://127.0.0.1:9090 START END out.html

START and END: RFC 3339 times or unix seconds.
"""

from __future__ import annotations

import html
import json
import re
import sys
import urllib.parse
import urllib.request
from pathlib import Path

DASHBOARD = Path(__file__).resolve().parent / "dashboards" / "ticketing.json"
RATE_INTERVAL = "15s"  # what Grafana's $__rate_interval is at a 5 s scrape interval
COLOURS = ["#7eb26d", "#eab839", "#6ed0e0", "#ef843c", "#e24d42", "#1f78c1", "#ba43a9", "#705da0", "#508642"]
HEIGHT, PAD = 170, 56


def query_range(prometheus: str, expr: str, start: str, end: str) -> list[dict]:
    params = urllib.parse.urlencode({"query": expr, "start": start, "end": end, "step": "2s"})
    with urllib.request.urlopen(f"{prometheus}/api/v1/query_range?{params}", timeout=30) as response:  # noqa: S310
        answer = json.load(response)
    if answer["status"] != "success":
        raise RuntimeError(f"{expr}: {answer}")
    return answer["data"]["result"]


def legend(template: str, labels: dict[str, str]) -> str:
    return re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: labels.get(m[1], ""), template) or json.dumps(labels)


def chart(title: str, unit: str, series: list[tuple[str, list[tuple[float, float]]]], width: int) -> str:
    points = [p for _, values in series for p in values]
    if not points:
        return f'<div class="panel"><h3>{html.escape(title)}</h3><p class="empty">No data</p></div>'
    t0, t1 = min(t for t, _ in points), max(t for t, _ in points)
    top = (max(v for _, v in points) or 1.0) * 1.1
    inner_w, inner_h = width - 2 * PAD, HEIGHT - 2 * PAD + 20

    def xy(t: float, v: float) -> str:
        x = PAD + (t - t0) / max(t1 - t0, 1) * inner_w
        y = PAD - 20 + inner_h - v / top * inner_h
        return f"{x:.1f},{y:.1f}"

    lines, keys = [], []
    for index, (name, values) in enumerate(series[: len(COLOURS)]):
        colour = COLOURS[index % len(COLOURS)]
        path = " ".join(xy(t, v) for t, v in values)
        lines.append(f'<polyline fill="none" stroke="{colour}" stroke-width="1.5" points="{path}"/>')
        keys.append(f'<span><i style="background:{colour}"></i>{html.escape(name)}</span>')

    def level(f: float) -> str:
        y = PAD - 20 + inner_h - f * inner_h
        return (
            f'<text x="{PAD - 4}" y="{y + 4:.0f}" text-anchor="end">{number(top / 1.1 * f)}{unit}</text>'
            f'<line x1="{PAD}" x2="{PAD + inner_w}" y1="{y:.0f}" y2="{y:.0f}" class="grid"/>'
        )

    scale = "".join(level(f) for f in (0, 0.5, 1.0))
    return (
        f'<div class="panel" style="width:{width}px"><h3>{html.escape(title)}</h3>'
        f'<svg width="{width}" height="{HEIGHT}">{scale}{"".join(lines)}</svg>'
        f'<div class="keys">{"".join(keys)}</div></div>'
    )


UNITS = {"s": " s", "reqps": "/s", "short": ""}


def number(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:.3g}"


def main() -> None:
    prometheus, start, end, out = sys.argv[1:5]
    dashboard = json.loads(DASHBOARD.read_text())
    parts = [f"<h1>{html.escape(dashboard['title'])}</h1>"]
    for panel in dashboard["panels"]:
        if panel["type"] == "row":
            parts.append(f"<h2>{html.escape(panel['title'])}</h2>")
            continue
        series = []
        for target in panel["targets"]:
            expr = target["expr"].replace("$__rate_interval", RATE_INTERVAL)
            for result in query_range(prometheus, expr, start, end):
                values = [(float(t), float(v)) for t, v in result["values"] if v not in ("NaN", "+Inf", "-Inf")]
                if values:
                    series.append((legend(target.get("legendFormat", ""), result["metric"]), values))
        series.sort(key=lambda s: -max(v for _, v in s[1]))
        unit = UNITS.get(panel["fieldConfig"]["defaults"].get("unit", "short"), "")
        width = 1150 if panel["gridPos"]["w"] == 24 else 560
        parts.append(chart(panel["title"], unit, series, width))
    Path(out).write_text(
        "<!doctype html><meta charset=utf-8><style>"
        "body{background:#111217;color:#ccccdc;font:12px sans-serif;margin:12px;width:1200px}"
        "h1{font-size:18px}h2{font-size:14px;margin:14px 0 4px;clear:both}"
        ".panel{float:left;margin:4px;padding:6px;background:#181b1f;border:1px solid #2c3235}"
        "h3{font-size:13px;margin:0 0 4px}svg text{fill:#8e8e8e;font-size:10px}.grid{stroke:#2c3235}"
        ".keys span{margin-right:10px;white-space:nowrap}.keys i{display:inline-block;width:10px;height:3px;"
        "margin-right:4px;vertical-align:middle}.empty{color:#8e8e8e}</style>" + "".join(parts)
    )


if __name__ == "__main__":
    main()
