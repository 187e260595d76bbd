"""Data docs: the check results as a self-contained HTML page plus the GX validation results as JSON.

Why not GX's own data docs: they print the unexpected *values* (names, e-mail addresses) of failing
rows, and the run's reports are read widely. This page shows key columns only, and needs no network
(no CDN stylesheets), so it opens from a file share or a CI artifact.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from expectations.results import CheckReport, CheckResult

STATUS_COLOURS = {"passed": "#2e7d32", "skipped": "#9e9e9e", "error": "#6a1b9a"}
CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:1.5rem;color:#222}
table{border-collapse:collapse;width:100%;font-size:.85rem}
th,td{border:1px solid #ddd;padding:.3rem .5rem;text-align:left;vertical-align:top}
th{background:#f4f4f4}
.badge{color:#fff;border-radius:3px;padding:0 .4rem;font-weight:600}
code{font-size:.8rem}
"""


def status_colour(r: CheckResult) -> str:
    if r.status == "failed":
        return "#c62828" if r.severity == "fail" else "#ef6c00"
    return STATUS_COLOURS.get(r.status, "#444")


def results_table_html(report: CheckReport) -> str:
    """An HTML table of every result (shared with the run report)."""
    rows = []
    for r in report.results:
        ex = "<br>".join(html.escape(", ".join(f"{k}={v}" for k, v in e.items())) for e in r.examples)
        rows.append(
            "<tr>"
            f"<td>{html.escape(r.layer)}</td><td><code>{html.escape(r.table)}</code></td>"
            f"<td><code>{html.escape(r.check)}</code></td><td>{html.escape(r.kind)}</td>"
            f"<td>{r.severity}</td>"
            f'<td><span class="badge" style="background:{status_colour(r)}">{html.escape(r.status)}</span></td>'
            f"<td>{r.failing_rows}</td><td>{ex}</td><td>{html.escape(r.detail)}</td>"
            "</tr>"
        )
    head = "".join(
        f"<th>{h}</th>"
        for h in ("layer", "table", "check", "kind", "severity", "status", "failing rows", "example keys", "detail")
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def write_data_docs(report: CheckReport, out_dir: Path, validations: dict[str, dict[str, Any]]) -> Path:
    """Write ``index.html`` and ``validations/<suite>.json``; return the index path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    vdir = out_dir / "validations"
    vdir.mkdir(exist_ok=True)
    for old in vdir.glob("*.json"):  # results of an earlier run must not pass for this run's
        old.unlink()
    for suite, doc in validations.items():
        (vdir / f"{suite}.json").write_text(json.dumps(doc, indent=1, default=str), encoding="utf-8")
    counts = ", ".join(f"{k}: {v}" for k, v in report.counts().items())
    verdict = "OK" if report.ok else "FAILED"
    page = (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>KORE data checks {html.escape(report.checked_at)}</title><style>{CSS}</style></head><body>"
        f"<h1>Data checks: {verdict}</h1>"
        f"<p>Run <code>{html.escape(report.run_id)}</code> at {html.escape(report.checked_at)}, "
        f"layer <b>{html.escape(report.layer)}</b>. {html.escape(counts)}.</p>"
        "<p>Examples show key columns only. Validation results per suite (GX JSON, unexpected values "
        "removed) are in <code>validations/</code>.</p>"
        f"{results_table_html(report)}</body></html>"
    )
    index = out_dir / "index.html"
    index.write_text(page, encoding="utf-8")
    return index
