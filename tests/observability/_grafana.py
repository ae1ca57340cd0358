"""Dashboards evaluated the way Grafana evaluates them, against a real Prometheus.

What Grafana does for a default install, reproduced here:

- query variables (``label_values(<selector>, <label>)``) are resolved in order against
  Prometheus' label-values API over the dashboard's time range; a variable without any value is
  the empty string (so ``cluster="$cluster"`` matches series without a ``cluster`` label);
- a single-value variable takes its first option (Grafana's default selection); a multi-value or
  include-all variable is "All": its ``allValue`` when set, else every option as a regex
  alternation with each value regex-escaped (Grafana's Prometheus interpolation);
- ``$__interval`` = max(range / max data points, scrape interval), ``$__rate_interval`` =
  max($__interval + scrape interval, 4 x scrape interval), ``$__range`` = the dashboard range;
- a target with ``instant: true`` is an instant query at the end of the range, any other a range
  query over it with ``$__interval`` as step.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.observability._support import Prometheus

MAX_DATA_POINTS = 1000
_LABEL_VALUES = re.compile(r"^\s*label_values\((?:(?P<selector>.*),)?\s*(?P<label>[A-Za-z_][A-Za-z0-9_]*)\s*\)\s*$", re.S)
_REGEX_SPECIAL = re.compile(r"[\\^$*+?.()|{}\[\]]")


@dataclass(frozen=True)
class Target:
    dashboard: str
    panel: str
    ref: str
    expr: str
    instant: bool

    def __str__(self) -> str:
        return f"{self.dashboard} / {self.panel} / {self.ref}"


def load(path: Path) -> dict[str, Any]:
    return dict(json.loads(path.read_text()))


def panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    """Every panel that queries data, rows flattened (collapsed rows keep theirs in ``panels``)."""
    out: list[dict[str, Any]] = []
    for panel in dashboard.get("panels", []):
        out.extend(panels(panel))
        if panel.get("type") != "row":
            out.append(panel)
    return out


def targets(dashboard: dict[str, Any]) -> list[Target]:
    return [
        Target(dashboard["title"], panel.get("title", ""), target.get("refId", "?"), target["expr"],
               bool(target.get("instant")))
        for panel in panels(dashboard) for target in panel.get("targets", []) if target.get("expr")
    ]


def _escape(value: str) -> str:
    return _REGEX_SPECIAL.sub(lambda m: "\\\\" + m.group(0), value)


class Grafana:
    """One dashboard time range [start, end] over a Prometheus scraping every ``scrape_s``."""

    def __init__(self, prom: Prometheus, start: float, end: float, scrape_s: float = 1.0) -> None:
        self.prom, self.start, self.end = prom, start, end
        range_s = max(1.0, end - start)
        self.interval_s = max(scrape_s, range_s / MAX_DATA_POINTS)
        self.builtins = {
            "__interval": f"{math.ceil(self.interval_s)}s",
            "__rate_interval": f"{math.ceil(max(self.interval_s + scrape_s, 4 * scrape_s))}s",
            "__range": f"{math.ceil(range_s)}s",
        }
        self.options: dict[str, list[str]] = {}

    def expand(self, text: str, variables: dict[str, str]) -> str:
        names = sorted(variables, key=len, reverse=True)
        for name in names:
            value = variables[name]
            text = text.replace("${" + name + "}", value).replace("[[" + name + "]]", value)
            text = re.sub(r"\$" + re.escape(name) + r"(?![A-Za-z0-9_])", lambda _m, v=value: v, text)
        return text

    def label_values(self, query: str) -> list[str]:
        match = _LABEL_VALUES.match(query)
        assert match, f"not a label_values() query: {query}"
        params: dict[str, Any] = {"start": self.start, "end": self.end}
        if match.group("selector"):
            params["match[]"] = match.group("selector").strip()
        reply = self.prom.api(f"label/{match.group('label')}/values", **params)
        assert reply["status"] == "success", f"{query}: {reply}"
        return sorted(reply["data"])

    def variables(self, dashboard: dict[str, Any]) -> dict[str, str]:
        values = dict(self.builtins)
        for var in dashboard.get("templating", {}).get("list", []):
            if var.get("type") != "query":
                continue
            query = var["query"]["query"] if isinstance(var["query"], dict) else var["query"]
            options = self.label_values(self.expand(query, values))
            self.options[var["name"]] = options
            if not options:
                values[var["name"]] = ""
            elif var.get("multi") or var.get("includeAll"):
                values[var["name"]] = var.get("allValue") or (
                    _escape(options[0]) if len(options) == 1 else "(" + "|".join(map(_escape, options)) + ")")
            else:
                values[var["name"]] = options[0]
        return values

    def evaluate(self, target: Target, variables: dict[str, str]) -> list[dict[str, Any]]:
        """The series a panel gets: ``{"metric": ..., "values": [floats]}`` (instant: one value)."""
        expr = self.expand(target.expr, variables)
        if target.instant:
            params: dict[str, Any] = {"query": expr, "time": self.end}
            reply = self.prom.api("query", **params)
        else:
            params = {"query": expr, "start": self.start, "end": self.end, "step": math.ceil(self.interval_s)}
            reply = self.prom.api("query_range", **params)
        assert reply["status"] == "success", f"{target}: {expr}: {reply}"
        out = []
        for series in reply["data"]["result"]:
            samples = [series["value"]] if "value" in series else series["values"]
            out.append({"metric": series["metric"], "values": [float(v) for _, v in samples]})
        return out


def has_data(series: list[dict[str, Any]]) -> bool:
    """At least one finite sample (NaN from 0/0 is what Grafana shows as no value)."""
    return any(math.isfinite(v) for s in series for v in s["values"])


def counter_of(expr: str) -> str | None:
    """The celery counter a single-counter expression reads (``succeeded``), else None."""
    found = set(re.findall(r"celery_task_([a-z]+)_total", expr))
    return found.pop() if len(found) == 1 else None
