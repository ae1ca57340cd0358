#!/usr/bin/env python3
"""Render the atomfleet chart with the real Helm engine (helm-python-sdk, no helm binary).

    hack/render.py [-f values/kind.yaml ...] [--set-json 'workers.queues.reports={}'] [--notes]
    hack/render.py --values-table      # the README values table, from values.yaml `## @param` lines
    hack/render.py --lint              # helm lint --strict (SDK, helm 3, helm 4): defaults, values/, scenarios
    hack/render.py --helm 4 [-f ...]   # the same manifests from the helm 4 CLI (`make helm-tools`)

Prints the manifests like `helm template` (hooks included, `# Source:` comments, `---` between
documents). Exit status 1 with Helm's message when values are rejected. The functions are also
imported by k8s-tests/.
"""

from __future__ import annotations

import argparse
import copy
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
CHART = ROOT / "charts" / "atomfleet"
VALUES_DIR = ROOT / "values"
# Test scenarios beside the presets (e.g. a queue added by a user), rendered and linted like them.
SCENARIOS_DIR = ROOT / "k8s-tests" / "scenarios"
RELEASE = "atomfleet"
NAMESPACE = "atomfleet"


def deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """Helm's merge of successive `-f` files: maps merge, anything else in `over` wins.

    A None in `over` is kept, so that Helm deletes the key from the chart's defaults.
    """
    out = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def set_path(values: dict[str, Any], dotted: str, value: Any) -> None:
    """`--set-json a.b.c=<json>`: set a nested key (keys never contain dots here)."""
    keys = dotted.split(".")
    node = values
    for key in keys[:-1]:
        node = node.setdefault(key, {})
    node[keys[-1]] = value


def load_values(files: list[str | Path] = (), overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for f in files:
        path = Path(f)
        if not path.is_absolute() and not path.exists():
            path = ROOT / path
        loaded = yaml.safe_load(path.read_text()) or {}
        values = deep_merge(values, loaded)
    if overrides:
        values = deep_merge(values, overrides)
    return values


def render_templates(
    values: dict[str, Any] | None = None,
    *,
    name: str = RELEASE,
    namespace: str = NAMESPACE,
    is_upgrade: bool = False,
    chart: Path = CHART,
) -> dict[str, str]:
    """{template path: rendered text}. Raises helm_python.HelmError with Helm's message."""
    from helm_python import Chart

    with Chart.load(str(chart)) as loaded:
        return loaded.render(
            values=values or {},
            name=name,
            namespace=namespace,
            is_install=not is_upgrade,
            is_upgrade=is_upgrade,
        )


def manifest_text(templates: dict[str, str], *, notes: bool = False) -> str:
    """Join rendered templates like `helm template`: one `# Source:` per document."""
    parts: list[str] = []
    for path in sorted(templates):
        text = templates[path]
        if path.endswith("NOTES.txt"):
            continue
        for doc in re.split(r"(?m)^---\s*$", text):
            if doc.strip() and yaml.safe_load(doc) is not None:
                parts.append(f"---\n# Source: {path}\n{doc.strip()}\n")
    out = "".join(parts)
    if notes:
        for path, text in templates.items():
            if path.endswith("NOTES.txt"):
                out += "\nNOTES:\n" + text
    return out


def render_objects(values: dict[str, Any] | None = None, **kwargs: Any) -> list[dict[str, Any]]:
    """Every rendered Kubernetes object as a dict (hooks included)."""
    text = manifest_text(render_templates(values, **kwargs))
    return [d for d in yaml.safe_load_all(text) if d]


# values/ files that configure other charts (used beside atomfleet), not this one.
OTHER_CHARTS_VALUES = {"prometheus-adapter.yaml"}


def values_files() -> list[Path]:
    """The atomfleet values files of values/ (scenarios the tests render)."""
    return sorted(p for p in VALUES_DIR.glob("*.yaml") if p.name not in OTHER_CHARTS_VALUES)


def scenario_files() -> list[Path]:
    return sorted(SCENARIOS_DIR.glob("*.yaml"))


# ------------------------------------------------------------------ the helm CLIs users run
def helm_binary(major: str) -> Path:
    """The pinned helm CLI (hack/helm_tools.py); raises FileNotFoundError with what to run."""
    sys.path.insert(0, str(ROOT / "hack"))
    import helm_tools

    cli = next(c for c in helm_tools.CLIS if c.major == major)
    binary = helm_tools.DEFAULT_DEST / cli.folder / "helm"
    if not binary.exists():
        raise FileNotFoundError(f"helm {cli.version} is not installed at {binary}: run `make helm-tools`")
    return binary


def _cli(major: str, args: list[str], files: list[str | Path], overrides: dict[str, Any] | None) -> subprocess.CompletedProcess[str]:
    with tempfile.NamedTemporaryFile("w", suffix=".yaml") as extra:
        flags = [f for path in files for f in ("-f", str(path))]
        if overrides:
            yaml.safe_dump(overrides, extra)
            extra.flush()
            flags += ["-f", extra.name]
        return subprocess.run([str(helm_binary(major)), *args, *flags], capture_output=True, text=True, timeout=120)


def cli_template(major: str, files: list[str | Path] = (), overrides: dict[str, Any] | None = None,
                 *, extra_args: list[str] | None = None, name: str = RELEASE, namespace: str = NAMESPACE) -> str:
    """`helm template` output; raises RuntimeError with helm's message when it fails."""
    proc = _cli(major, ["template", name, str(CHART), "--namespace", namespace, *(extra_args or [])],
                list(files), overrides)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr.strip() or proc.stdout.strip())
    return proc.stdout


def cli_lint(major: str, files: list[str | Path] = ()) -> list[str]:
    """`helm lint --strict`: the problems it reports (empty when clean)."""
    proc = _cli(major, ["lint", "--strict", str(CHART), "--namespace", NAMESPACE], list(files), None)
    if proc.returncode == 0 and "0 chart(s) failed" in proc.stdout:
        return []
    return [line for line in (proc.stdout + proc.stderr).splitlines() if line.strip()] or [f"exit {proc.returncode}"]


def values_table() -> str:
    """Markdown table of every `## @param` line of values.yaml, grouped by `## @section`."""
    lines = ["| Name | Description | Default |", "| --- | --- | --- |"]
    defaults = yaml.safe_load((CHART / "values.yaml").read_text())
    out: list[str] = []
    for raw in (CHART / "values.yaml").read_text().splitlines():
        line = raw.strip()
        if line.startswith("## @section"):
            if len(lines) > 2:
                out.extend(lines + [""])
            lines = ["| Name | Description | Default |", "| --- | --- | --- |"]
            out.append(f"### {line.removeprefix('## @section').strip()}\n")
        elif line.startswith("## @param"):
            _, _, rest = line.partition("## @param")
            key, _, desc = rest.strip().partition(" ")
            node: Any = defaults
            for part in key.split("."):
                node = node.get(part) if isinstance(node, dict) else None
            default = json.dumps(node, separators=(",", ":"))
            if len(default) > 60:
                default = "see values.yaml"
            default = default.replace("|", "\\|")
            lines.append(f"| `{key}` | {desc.strip().replace('|', chr(92) + '|')} | `{default}` |")
    if len(lines) > 2:
        out.extend(lines + [""])
    return "\n".join(out)


README = CHART / "README.md"
TABLE_START = "<!-- values-table:start (generated by `make chart-readme`) -->"
TABLE_END = "<!-- values-table:end -->"


def readme_with_table(text: str) -> str:
    """README text with the generated values table between the markers."""
    head, _, rest = text.partition(TABLE_START)
    _, _, tail = rest.partition(TABLE_END)
    return f"{head}{TABLE_START}\n\n{values_table()}\n{TABLE_END}{tail}"


def lint_targets() -> list[tuple[str, list[Path]]]:
    """(label, values files): the defaults, every values/ preset and every test scenario."""
    return [("defaults", [])] + [(str(p.relative_to(ROOT)), [p]) for p in values_files() + scenario_files()]


def lint_all(clis: tuple[str, ...] = ()) -> list[str]:
    """helm lint --strict with the SDK (and the helm CLIs named in `clis`); returns the problems."""
    from helm_python import lint

    problems: list[str] = []
    for label, files in lint_targets():
        report = lint(str(CHART), load_values(files), strict=True, namespace=NAMESPACE)
        for msg in report.get("messages", []):
            problems.append(f"sdk {label}: [{msg.get('severity')}] {msg.get('path')}: {msg.get('error')}")
        for err in report.get("errors", []):
            problems.append(f"sdk {label}: {err}")
        for major in clis:
            problems += [f"helm {major} {label}: {p}" for p in cli_lint(major, files)]
    return problems


def _installed(major: str) -> bool:
    try:
        helm_binary(major)
    except FileNotFoundError:
        return False
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-f", "--values", action="append", default=[], help="values file (repeatable)")
    parser.add_argument("--set-json", action="append", default=[], metavar="PATH=JSON",
                        help="set a value, e.g. workers.queues.reports={}")
    parser.add_argument("--name", default=RELEASE, help="release name")
    parser.add_argument("--namespace", default=NAMESPACE, help="release namespace")
    parser.add_argument("--upgrade", action="store_true", help="render as an upgrade")
    parser.add_argument("--notes", action="store_true", help="append the rendered NOTES.txt")
    parser.add_argument("--values-table", action="store_true", help="print the README values table")
    parser.add_argument("--write-readme", action="store_true", help="regenerate the README values table")
    parser.add_argument("--lint", action="store_true", help="helm lint --strict (defaults, values/, scenarios)")
    parser.add_argument("--helm", choices=["3", "4"], help="render with this helm CLI instead of the SDK")
    args = parser.parse_args(argv)

    if args.values_table:
        print(values_table())
        return 0
    if args.write_readme:
        README.write_text(readme_with_table(README.read_text()))
        return 0
    if args.lint:
        clis = tuple(m for m in ("3", "4") if _installed(m))
        problems = lint_all(clis)
        for p in problems:
            print(p, file=sys.stderr)
        print(f"helm lint --strict (sdk{''.join(f', helm {m}' for m in clis)}): "
              f"{len(lint_targets())} values sets, {len(problems)} problem(s)")
        return 1 if problems else 0

    overrides: dict[str, Any] = {}
    for item in args.set_json:
        path, _, raw = item.partition("=")
        set_path(overrides, path, json.loads(raw))
    if args.helm:
        try:
            sys.stdout.write(cli_template(args.helm, args.values, overrides or None, name=args.name,
                                          namespace=args.namespace, extra_args=["--is-upgrade"] if args.upgrade else None))
        except (RuntimeError, FileNotFoundError) as exc:
            print(f"Error: {exc}", file=sys.stderr)
            return 1
        return 0
    values = load_values(args.values, overrides)
    from helm_python import HelmError

    try:
        templates = render_templates(values, name=args.name, namespace=args.namespace,
                                     is_upgrade=args.upgrade)
    except HelmError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    sys.stdout.write(manifest_text(templates, notes=args.notes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
