"""``forecast.autoregressive`` (queue ``ml_training``): fit an AR(p) model and forecast.

Least squares with numpy on ``y_t = c + sum_i phi_i * y_{t-i} + e_t``. Runs on CPU; records the
device it used and whether a GPU was visible to the pod.
"""

from __future__ import annotations

import csv
import io
import json
import os
from typing import Any

import numpy as np

from atomfleet import AtomContext, InvalidAtomInput, atom
from atomfleet_demo._inputs import read_uploaded_text


def _gpu_visible() -> bool:
    return os.path.exists("/dev/nvidia0") or bool(os.environ.get("NVIDIA_VISIBLE_DEVICES", "").strip(" void"))


def _series_from_csv(ctx: AtomContext, key: str, column: str) -> list[float]:
    reader = csv.DictReader(io.StringIO(read_uploaded_text(ctx, key)))
    if column not in (reader.fieldnames or []):
        raise InvalidAtomInput(f"column {column!r} not in the CSV header {reader.fieldnames}")
    try:
        return [float(row[column]) for row in reader if (row.get(column) or "").strip()]
    except ValueError as exc:
        raise InvalidAtomInput(f"column {column!r} holds a non-numeric value: {exc}") from exc


def fit_ar(series: np.ndarray, order: int) -> tuple[np.ndarray, float]:
    """Coefficients ``[c, phi_1..phi_p]`` and the in-sample RMSE."""
    lags = np.column_stack([series[order - i - 1 : len(series) - i - 1] for i in range(order)])
    design = np.column_stack([np.ones(len(lags)), lags])
    target = series[order:]
    coef, *_ = np.linalg.lstsq(design, target, rcond=None)
    residuals = target - design @ coef
    return coef, float(np.sqrt(np.mean(residuals**2)))


def forecast_ar(history: np.ndarray, coef: np.ndarray, horizon: int) -> list[float]:
    order = len(coef) - 1
    window = list(history[-order:])
    out: list[float] = []
    for _ in range(horizon):
        nxt = float(coef[0] + sum(coef[i + 1] * window[-i - 1] for i in range(order)))
        out.append(nxt)
        window.append(nxt)
    return out


@atom(
    name="forecast.autoregressive",
    queue="ml_training",
    description="Fits an AR(p) model by least squares to a series (inline or uploaded CSV) and forecasts.",
    schema={
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "series": {"type": "array", "items": {"type": "number"}, "minItems": 3, "maxItems": 1_000_000},
            "file": {"type": "string", "description": "key of an uploaded CSV"},
            "column": {"type": "string", "default": "value"},
            "order": {"type": "integer", "minimum": 1, "maximum": 100, "default": 3},
            "horizon": {"type": "integer", "minimum": 1, "maximum": 10000, "default": 10},
        },
        "oneOf": [{"required": ["series"]}, {"required": ["file"]}],
    },
    soft_time_limit=7000,
    time_limit=7200,
    idempotent=True,
    file_args=("file",),
)
def autoregressive(
    ctx: AtomContext,
    *,
    series: list[float] | None = None,
    file: str | None = None,
    column: str = "value",
    order: int = 3,
    horizon: int = 10,
) -> dict[str, Any]:
    values = np.asarray(series if series is not None else _series_from_csv(ctx, file or "", column), dtype=float)
    if len(values) < 2 * order + 1:
        raise InvalidAtomInput(
            f"a series of {len(values)} points is too short for order {order} (need {2 * order + 1})"
        )
    ctx.progress(0.1, f"loaded {len(values)} points")
    ctx.check_cancelled()
    coef, rmse = fit_ar(values, order)
    ctx.progress(0.7, "fitted")
    prediction = forecast_ar(values, coef, horizon)
    model = {
        "kind": "autoregressive",
        "order": order,
        "intercept": float(coef[0]),
        "coefficients": [float(c) for c in coef[1:]],
        "history_tail": [float(v) for v in values[-order:]],
    }
    ctx.artifacts.put("model.json", json.dumps(model).encode(), "application/json")
    ctx.progress(1.0, "forecast ready")
    return {
        "order": order,
        "observations": int(len(values)),
        "intercept": model["intercept"],
        "coefficients": model["coefficients"],
        "rmse": rmse,
        "forecast": prediction,
        "device": "cpu",
        "gpu_visible": _gpu_visible(),
        "model_artifact": "model.json",
    }
