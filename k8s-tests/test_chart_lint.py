"""`helm lint --strict` (Helm engine via helm-python-sdk) is clean for the defaults and every values/ file."""

from __future__ import annotations

from chartlib import chart_render


def test_helm_lint_is_clean_for_defaults_and_every_values_file() -> None:
    problems = chart_render.lint_all()
    assert problems == []
