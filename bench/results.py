"""bench/results.json (every measured figure) and the BENCHMARKS.md rendered from it.

results.json is one flat JSON object: metric name -> {"value", "unit", "n",
"date", "note"}. A benchmark run merges its metrics in (new names are appended,
re-measured ones replaced in place), so running one benchmark keeps the others'
figures. `render()` groups metrics by their first dotted component (a section
each); inside a section, names that differ only in their last component (a
size, a mode, a category) become rows of one table with those as columns, and
the rest are listed. Method text per section comes from the benchmark modules'
`METHODS` dicts (section prefix -> text), so a new benchmark needs no change here.

`python -m bench.results` re-renders BENCHMARKS.md without measuring anything.
"""
from __future__ import annotations

import json
import os
import platform
import sys
from datetime import date
from importlib import metadata
from collections.abc import Sequence
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
RESULTS = BENCH_DIR / "results.json"
REPORT = BENCH_DIR.parent / "BENCHMARKS.md"
DATA_DIR = BENCH_DIR / ".data"  # caches (embeddings), gitignored

Metrics = dict[str, dict[str, Any]]

GROUP_TITLES = {
    "search": "Search latency", "search_parts": "Where a hybrid query's time goes",
    "index": "Index state after the build", "insert": "Insert throughput", "disk": "Disk use",
    "embed": "Embedding (all-MiniLM-L6-v2, numpy)", "locomo": "Retrieval quality on LoCoMo",
    "locomo_sweep": "Hybrid fusion sweep on LoCoMo (in-sample)",
    "screens": "Screen recall: words seen on a real screen find it",
    "capture": "Screen capture: CPU, disk, time to searchable", "dedup": "Near-duplicate detection",
    "ocr": "OCR engines", "agents": "Memory agents: routing and ingest", "ask": "Ask: latency and context",
    "ask_extractive": "Ask with no model (quoted answers)", "reader": "The reader alone: models given the evidence",
    "autofill": "Autofill", "ui": "Desktop app responsiveness",
    "app": "Desktop app start and memory",
    "bundle": "Linux bundle (PyInstaller one-folder): size and start",
    "mcp": "Engram over MCP: what an agent waits for",
    "popup": "The recall popup while the agents digest", "store": "Deletes and the hourly upkeep",
    "year": "A year of use: one store filled the way capture fills it",
}

BASELINES = """\
## Comparison baselines (from shared/STACK.md, measured on this kind of machine)

Retrieval on LoCoMo, all 10 conversations, 1,531 questions of categories 1–4, turn-level documents, R_any@k:

| retriever | R@1 | R@5 | R@10 | R@20 |
|---|---|---|---|---|
| BM25 (k1 1.2, b 0.75, lowercase word tokens, no stemming) | 0.246 | 0.455 | 0.535 | 0.622 |
| all-MiniLM-L6-v2 cosine (GGUF under llama.cpp) | 0.088 | 0.236 | 0.342 | 0.452 |
| plain RRF (k=60) of the two | 0.145 | 0.396 | 0.519 | 0.617 |

Latency: LanceDB 0.40 hybrid (vector + FTS, RRF) over 100k *random* 384-dim vectors, no encryption:
p50 11.6 ms, **p95 14 ms**. Engram's target (DESIGN.md): **hybrid p95 < 50 ms at 1M memories** on two cores.
"""


def metric(value: float, unit: str, n: int | None = None, note: str = "") -> dict[str, Any]:
    """One figure, dated today."""
    return {"value": value, "unit": unit, "n": n, "date": date.today().isoformat(), "note": note}


def quantile(values: Sequence[float], q: float) -> float:
    """The value at quantile `q` (0-1) by nearest rank: always one that was measured."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def load(path: Path | None = None) -> Metrics:
    path = path or RESULTS
    if not path.exists():
        return {}
    data: Metrics = json.loads(path.read_text(encoding="utf-8"))
    return data


def save(metrics: Metrics, path: Path | None = None) -> None:
    path = path or RESULTS
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(metrics, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def merge(new: Metrics, path: Path | None = None) -> Metrics:
    """Add or replace `new` in results.json (keeping everything else) and return the whole."""
    metrics = load(path)
    metrics.update(new)
    save(metrics, path)
    return metrics


# -- rendering ----------------------------------------------------------------------


def machine() -> dict[str, str]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram = "unknown"
    try:
        kib = int(Path("/proc/meminfo").read_text().split("MemTotal:")[1].split()[0])
        ram = f"{kib / 2**20:.1f} GiB"
    except (OSError, IndexError, ValueError):
        pass
    os_name = platform.platform()
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                os_name = f"{line.split('=', 1)[1].strip(chr(34))} (kernel {platform.release()})"
    except OSError:
        pass
    try:
        lancedb_version = metadata.version("lancedb")
    except metadata.PackageNotFoundError:
        lancedb_version = "not installed"
    return {"CPU": cpu, "cores": str(os.cpu_count()), "RAM": ram, "OS": os_name,
            "Python": sys.version.split()[0], "lancedb": lancedb_version}


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        if value == 0 or abs(value) >= 1000:
            return f"{value:,.0f}"
        if abs(value) >= 100:
            return f"{value:.0f}"
        if abs(value) >= 10:
            return f"{value:.1f}"
        return f"{value:.3f}" if abs(value) < 1 else f"{value:.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _tables(names: list[str], metrics: Metrics) -> list[str]:
    """Markdown for one group. A name splits into row (all but the last dotted part) and column (the
    last part: a size, a mode, a category); rows with the same columns (or a subset of an earlier
    table's) share a pivot table. Rows with a single column are listed plainly."""
    lines: list[str] = []
    rows: dict[str, dict[str, str]] = {}
    for name in names:
        row, _, column = name.rpartition(".")
        rows.setdefault(row, {})[column] = name
    tables: list[tuple[list[str], list[str]]] = []  # (columns, rows)
    plain: list[str] = []
    for row, cells in rows.items():
        if len(cells) == 1 or len({metrics[n].get("unit") for n in cells.values()}) > 1:
            plain += cells.values()  # one figure, or figures of different quantities: no pivot
            continue
        home = next((t for t in tables if set(cells) <= set(t[0]) or set(t[0]) <= set(cells)), None)
        if home is None:
            tables.append((list(cells), [row]))
        else:
            home[0].extend(c for c in cells if c not in home[0])
            home[1].append(row)
    blocks: list[tuple[list[str], list[str]]] = tables + ([([], plain)] if plain else [])
    for columns, table_rows in blocks:
        pivot = bool(columns)
        rows_here = {r: rows[r] for r in table_rows} if pivot else {}
        notes: list[str] = []
        if pivot:
            lines.append("| metric | " + " | ".join(columns) + " | unit | n |")
            lines.append("|---" * (len(columns) + 3) + "|")
            for row, cells in rows_here.items():
                entries = [metrics[n] for n in cells.values()]
                units = {str(e.get("unit", "")) for e in entries}
                ns = {e.get("n") for e in entries}
                values = [_fmt(metrics[cells[c]]["value"]) if c in cells else "" for c in columns]
                if ns == {None}:
                    n_text = ""
                elif len(ns) == 1:
                    n_text = _fmt(ns.pop())
                else:
                    n_text = " / ".join("" if e.get("n") is None else _fmt(e["n"]) for e in entries)
                lines.append(f"| {row} | " + " | ".join(values) + f" | {' / '.join(sorted(units))} | {n_text} |")
                row_notes = {c: metrics[n]["note"] for c, n in cells.items() if metrics[n].get("note")}
                if len(set(row_notes.values())) == 1 and len(row_notes) == len(cells):
                    notes.append(next(iter(row_notes.values())))
                else:
                    notes += [f"{c}: {note}" for c, note in row_notes.items()]
        else:
            lines.append("| metric | value | unit | n |")
            lines.append("|---|---|---|---|")
            for name in table_rows:
                m = metrics[name]
                lines.append(f"| {name} | {_fmt(m['value'])} | {m.get('unit', '')} | "
                             f"{'' if m.get('n') is None else _fmt(m['n'])} |")
                if m.get("note"):
                    notes.append(f"{name}: {m['note']}")
        lines.append("")
        lines += [f"- {note}" for note in dict.fromkeys(notes)]
        if notes:
            lines.append("")
    return lines


def render(methods: dict[str, str] | None = None, metrics: Metrics | None = None,
           path: Path | None = None) -> str:
    """Write BENCHMARKS.md from results.json (or `metrics`); returns the text."""
    path = path or REPORT
    metrics = load() if metrics is None else metrics
    methods = methods or {}
    groups: dict[str, list[str]] = {g: [] for g in GROUP_TITLES}  # known groups first, in this order
    for name in metrics:
        groups.setdefault(name.split(".", 1)[0], []).append(name)
    groups = {g: names for g, names in groups.items() if names}
    dates = sorted({m.get("date", "") for m in metrics.values() if m.get("date")})
    lines = ["# Benchmarks", "",
             "Generated by `python -m bench.run` from `bench/results.json`; do not edit by hand. "
             "Every figure is a measurement on the machine below; latency figures are medians/percentiles "
             "over many queries, taken while other work shared the machine.", "",
             "## Machine", ""]
    lines += [f"- {k}: {v}" for k, v in machine().items()]
    lines += [f"- measured: {dates[0]}" + (f" to {dates[-1]}" if len(dates) > 1 else "") if dates else "- measured: never", ""]
    for group, names in groups.items():
        lines += [f"## {GROUP_TITLES.get(group, group)} (`{group}.*`)", ""]
        if group in methods:
            lines += [methods[group].strip(), ""]
        # Methods of a part of the group ("locomo.qa") follow the group's own.
        lines += [line for key in sorted(methods) if key.startswith(group + ".")
                  for line in (f"**`{key}.*`**: {methods[key].strip()}", "")]
        lines += _tables(names, metrics)
    lines.append(BASELINES)
    text = "\n".join(lines)
    path.write_text(text, encoding="utf-8")
    return text


def collected_methods() -> dict[str, str]:
    """The METHODS texts of every benchmark bench.run knows."""
    from bench.registry import BENCHMARKS, module_of

    methods: dict[str, str] = {}
    for name in BENCHMARKS:
        methods.update(getattr(module_of(name), "METHODS", {}))
    return methods


if __name__ == "__main__":
    render(collected_methods())
    print(f"wrote {REPORT}")
