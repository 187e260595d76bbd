"""The run report: one self-contained HTML page that says what a run did and whether to trust it.

Why self-contained: the page is mailed, attached to tickets and opened from CI artifacts, often
offline or behind a proxy, so it carries its figures inline (matplotlib PNGs as base64) and loads
nothing from the network. Every panel reads its own inputs and shows "no data" when they are
missing (a partial run still gets a report); panels show counts only, never people's details.
"""

from __future__ import annotations

import base64
import contextlib
import html
import io
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from kore.config import Settings

ARCHTICS_DATASETS = (
    "cust",
    "cust_address",
    "cust_email",
    "cust_rep",
    "ticket",
    "evnt",
    "events_in_plan",
    "season",
    "note",
)
MAX_WEIGHTS = 200_000


@dataclass
class Panel:
    key: str
    title: str
    body: str  # HTML: an <img>, a table, or a "no data" note
    has_data: bool


def _no_data(why: str = "") -> str:
    text = "no data" + (f" — {why}" if why else "")
    return f'<div class="nodata">{html.escape(text)}</div>'


def _png(fig) -> str:
    """A matplotlib Figure as an inline <img> (base64 PNG)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return f'<img alt="figure" src="data:image/png;base64,{data}">'


def _figure(width: float = 7.0, height: float = 3.6):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height))
    return fig, fig.subplots()


def _barh(labels: list[str], values: list[float], xlabel: str, colors: list[str] | None = None) -> str:
    fig, ax = _figure(7.0, max(2.0, 0.32 * len(labels) + 1.0))
    ax.barh(labels, values, color=colors or "#1565c0")
    ax.invert_yaxis()
    ax.set_xlabel(xlabel)
    for i, v in enumerate(values):
        ax.text(v, i, f" {v:,.0f}" if float(v).is_integer() else f" {v:,.2f}", va="center", fontsize=8)
    ax.margins(x=0.15)
    return _png(fig)


# -- warehouse reads (each returns None when its inputs are missing) --------------------------------


class _Data:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.wh: Any = None

    def __enter__(self) -> _Data:
        if self.settings.target == "duckdb" and not self.settings.duckdb_path.exists():
            return self
        with contextlib.suppress(Exception):
            from kore.warehouse import Warehouse

            self.wh = Warehouse(self.settings)
        return self

    def __exit__(self, *exc) -> None:
        if self.wh is not None:
            self.wh.close()

    def exists(self, schema: str, table: str) -> bool:
        return self.wh is not None and self.wh.table_exists(schema, table)

    def df(self, sql: str) -> pd.DataFrame | None:
        if self.wh is None:
            return None
        try:
            df = self.wh.query_df(sql)
        except Exception:
            return None
        df.columns = [c.lower() for c in df.columns]
        return df

    def columns(self, schema: str, table: str) -> set[str]:
        if self.wh is None:
            return set()
        rows = self.wh.query_rows(
            "select column_name from information_schema.columns "
            "where lower(table_schema) = lower(?) and lower(table_name) = lower(?)",
            [schema, table],
        )
        return {str(r[0]).lower() for r in rows}

    def tables(self, schema: str) -> list[str]:
        if self.wh is None:
            return []
        rows = self.wh.query_rows(
            "select table_name from information_schema.tables where lower(table_schema) = lower(?)", [schema]
        )
        return sorted(str(r[0]) for r in rows)


def _rows_landed(d: _Data) -> Panel:
    labels, values, colors = [], [], []
    for ds in ARCHTICS_DATASETS:
        if d.exists("raw_archtics", ds):
            labels.append(f"archtics.{ds}")
            values.append(d.wh.row_count("raw_archtics", ds))
            colors.append("#1565c0")
    for t in d.tables("raw_crm"):
        if t.startswith("_dlt"):
            continue
        labels.append(f"crm.{t}")
        values.append(d.wh.row_count("raw_crm", t))
        colors.append("#6a1b9a")
    title = "Rows landed per dataset"
    if not labels:
        return Panel("rows_landed", title, _no_data(), False)
    return Panel("rows_landed", title, _barh(labels, values, "rows", colors), True)


def _reason_label(reason: Any) -> str:
    """Quarantine reasons grouped by their kind: the text before any ':' (details may hold values)."""
    text = str(reason or "unknown").split(":")[0].strip()
    return re.sub(r"\s+", " ", text)[:60] or "unknown"


def _quarantine(d: _Data) -> Panel:
    title = "Quarantined rows by reason"
    if not d.exists("raw_archtics", "quarantine"):
        return Panel("quarantine", title, _no_data(), False)
    df = d.df("select reason, count(*) as n from raw_archtics.quarantine group by reason")
    if df is None or df.empty:
        return Panel("quarantine", title, _no_data("no quarantined rows"), False)
    g = df.assign(label=df["reason"].map(_reason_label)).groupby("label")["n"].sum().sort_values(ascending=False)
    g = g.head(15)
    return Panel(
        "quarantine", title, _barh(list(g.index), [int(v) for v in g.values], "rows", ["#c62828"] * len(g)), True
    )


def _thresholds(d: _Data, score: str) -> tuple[dict[str, float], str]:
    """Decision thresholds: the dedup configuration's (they apply to log2-odds), else estimated from the
    lowest score that got each decision."""
    if score == "log2_odds":
        with contextlib.suppress(Exception):
            from dedup.model import DedupConfig

            cfg = DedupConfig()
            return {"match": cfg.match_threshold, "possible": cfg.possible_threshold}, "configured"
    stats = d.df(f"select decision, min({score}) as lo from kore_dedup.pair_scores group by decision")
    if stats is None:
        return {}, ""
    lo = dict(zip(stats["decision"].astype(str), pd.to_numeric(stats["lo"], errors="coerce"), strict=True))
    return {k: float(v) for k, v in lo.items() if k in ("match", "possible") and pd.notna(v)}, "estimated"


def _weights(d: _Data) -> Panel:
    # the pairs that carry evidence: the non-matches above the cannot-link threshold are not stored
    # (``dedup.engine.carries_evidence``)
    title = "Match weights of the stored pairs: matches, possible matches, cannot-links (with thresholds)"
    if not d.exists("kore_dedup", "pair_scores"):
        return Panel("match_weights", title, _no_data(), False)
    cols = d.columns("kore_dedup", "pair_scores")
    # the decision is taken on the posterior log2-odds (weight + prior) when dedup stores it
    score = "log2_odds" if "log2_odds" in cols else "weight"
    if score not in cols or "decision" not in cols:
        return Panel("match_weights", title, _no_data("pair scores have no weight/decision"), False)
    top = f"top {MAX_WEIGHTS}" if d.settings.target == "sqlserver" else ""
    tail = "" if d.settings.target == "sqlserver" else f"using sample {MAX_WEIGHTS} rows"
    df = d.df(f"select {top} {score} as score, decision from kore_dedup.pair_scores {tail}")
    n = d.wh.row_count("kore_dedup", "pair_scores") if d.wh is not None else 0
    if df is None or df.empty:
        return Panel("match_weights", title, _no_data(), False)
    df["score"] = pd.to_numeric(df["score"], errors="coerce")
    df = df.dropna(subset=["score"])
    fig, ax = _figure()
    colors = {"match": "#2e7d32", "possible": "#ef6c00", "non_match": "#9e9e9e"}
    groups = [(k, g["score"].to_numpy()) for k, g in df.groupby("decision")]
    ax.hist(
        [v for _, v in groups],
        bins=40,
        stacked=True,
        label=[str(k) for k, _ in groups],
        color=[colors.get(str(k), "#1565c0") for k, _ in groups],
    )
    thresholds, how = _thresholds(d, score)
    for decision, style in (("match", "-"), ("possible", "--")):
        if decision in thresholds:
            ax.axvline(
                thresholds[decision],
                color=colors[decision],
                linestyle=style,
                label=f"{decision} threshold {thresholds[decision]:.2f} ({how})",
            )
    ax.set_xlabel("match weight" + (" (posterior log2-odds)" if score == "log2_odds" else ""))
    ax.set_ylabel("pairs")
    ax.set_yscale("log")
    ax.legend(fontsize=8)
    sample = f", histogram of a {MAX_WEIGHTS:,} sample" if n > MAX_WEIGHTS else ""
    note = (
        f"<p class='note'>{n:,} stored pairs{sample}; the scored non-matches above the cannot-link "
        "threshold are counted in the dedup run's record, not stored</p>"
    )
    return Panel("match_weights", title, _png(fig) + note + _model_chart(d), True)


def _model_chart(d: _Data) -> str:
    """The fitted model as Splink's match-weights chart: weight log2(m/u) per field level, m and u in
    the label (why households stay apart: the weight of a different first name)."""
    if not d.exists("kore_dedup", "model_params"):
        return ""
    df = d.df("select field, level, label, m, u from kore_dedup.model_params")
    if df is None or df.empty:
        return ""
    # the ZIP within one town: the ZIP's m with its u among that town's unrelated people (level > 0)
    town = df[(df["field"] == "_zip5_in_town") & (df["level"] > 0)].drop(columns="m")
    town = town.merge(df[df["field"] == "zip5"][["level", "m"]], on="level").assign(field="zip5 in one town")
    df = pd.concat([df[~df["field"].astype(str).str.startswith("_")], town]).sort_values(["field", "level"])
    m, u = pd.to_numeric(df["m"], errors="coerce"), pd.to_numeric(df["u"], errors="coerce").clip(lower=1e-6)
    weights = [float(v) for v in np.clip(np.log2(m / u), -12, 18)]
    labels = [f"{f} {lb} (m {a:.3f}, u {b:.4f})" for f, lb, a, b in zip(df["field"], df["label"], m, u, strict=True)]
    colors = ["#2e7d32" if w >= 0 else "#c62828" for w in weights]
    head = "<p class='note'>Fitted model: match weight log2(m/u) per comparison level (before term-frequency and household adjustments)</p>"
    return head + _barh(labels, weights, "match weight (bits)", colors)


def _cluster_sizes(d: _Data) -> Panel:
    title = "Cluster size distribution"
    if not d.exists("kore_dedup", "clusters"):
        return Panel("cluster_sizes", title, _no_data(), False)
    df = d.df(
        "select size, count(*) as clusters from "
        "(select cluster_id, count(*) as size from kore_dedup.clusters group by cluster_id) s group by size"
    )
    if df is None or df.empty:
        return Panel("cluster_sizes", title, _no_data(), False)
    df = df.sort_values("size")
    fig, ax = _figure()
    ax.bar(df["size"].astype(int).astype(str), df["clusters"], color="#1565c0")
    ax.set_xlabel("records per cluster")
    ax.set_ylabel("clusters")
    ax.set_yscale("log")
    return Panel("cluster_sizes", title, _png(fig), True)


def _created_vs_matched(d: _Data) -> Panel:
    title = "CRM contacts: created vs matched"
    if not d.exists("kore_dedup", "clusters"):
        return Panel("created_vs_matched", title, _no_data(), False)
    df = d.df(
        "select cluster_id, max(case when record_id like 'A:%' then 1 else 0 end) as a, "
        "max(case when record_id like 'C:%' then 1 else 0 end) as c from kore_dedup.clusters group by cluster_id"
    )
    if df is None or df.empty:
        return Panel("created_vs_matched", title, _no_data(), False)
    a, c = df["a"].astype(int), df["c"].astype(int)
    counts = {
        "new contact (Archtics only)": int(((a == 1) & (c == 0)).sum()),
        "matched existing CRM contact": int(((a == 1) & (c == 1)).sum()),
        "CRM only (no Archtics account)": int(((a == 0) & (c == 1)).sum()),
    }
    body = _barh(list(counts), list(counts.values()), "contacts", ["#2e7d32", "#1565c0", "#9e9e9e"])
    return Panel("created_vs_matched", title, body, True)


def _push_outcomes(d: _Data) -> Panel:
    title = "CRM push outcomes per entity"
    if not d.exists("ops", "crm_sync_state"):
        return Panel("push_outcomes", title, _no_data(), False)
    cols = d.columns("ops", "crm_sync_state")
    status = next((c for c in ("status", "outcome", "result", "action") if c in cols), None)
    if "entity" not in cols or status is None:
        return Panel("push_outcomes", title, _no_data("sync state has no entity/status columns"), False)
    df = d.df(f"select entity, {status} as status, count(*) as n from ops.crm_sync_state group by entity, {status}")
    if df is None or df.empty:
        return Panel("push_outcomes", title, _no_data(), False)
    pivot = df.pivot_table(index="entity", columns="status", values="n", aggfunc="sum", fill_value=0)
    fig, ax = _figure(7.0, max(2.0, 0.32 * len(pivot) + 1.2))
    left = [0] * len(pivot)
    palette = {
        "synced": "#2e7d32",
        "created": "#2e7d32",
        "updated": "#1565c0",
        "unchanged": "#9e9e9e",
        "waiting_parent": "#ef6c00",
        "failed": "#c62828",
        "retracted": "#6a1b9a",
        "removed_in_crm": "#795548",
    }
    for st in pivot.columns:
        vals = pivot[st].tolist()
        ax.barh(list(pivot.index), vals, left=left, label=str(st), color=palette.get(str(st).lower()))
        left = [x + y for x, y in zip(left, vals, strict=True)]
    for i, total in enumerate(left):
        ax.text(total, i, f" {int(total):,}", va="center", fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("rows")
    ax.margins(x=0.12)
    ax.legend(fontsize=8)
    return Panel("push_outcomes", title, _png(fig), True)


def _outcome_colour(outcome: str) -> str:
    if outcome in ("success", "ok", "passed"):
        return "#2e7d32"
    return "#9e9e9e" if outcome.startswith("skipped") else "#c62828"


def _durations(stages: list[dict[str, Any]]) -> Panel:
    title = "Duration per stage"
    rows = [s for s in stages if s.get("stage")]
    if not rows:
        return Panel("durations", title, _no_data("no stages recorded"), False)
    labels = [str(s["stage"]) + (f" ({s['entity']})" if s.get("entity") else "") for s in rows]
    secs = [float(s.get("seconds") or 0) for s in rows]
    colors = [_outcome_colour(str(s.get("outcome", "success"))) for s in rows]
    table = ["<table><thead><tr><th>stage</th><th>seconds</th><th>rows in</th><th>rows out</th>"
             "<th>outcome</th></tr></thead><tbody>"]  # fmt: skip
    for lab, s in zip(labels, rows, strict=True):
        table.append(
            f"<tr><td>{html.escape(lab)}</td><td>{float(s.get('seconds') or 0):,.1f}</td>"
            f"<td>{int(s.get('rows_in') or 0):,}</td><td>{int(s.get('rows_out') or 0):,}</td>"
            f"<td>{html.escape(str(s.get('outcome', '')))}</td></tr>"
        )
    table.append("</tbody></table>")
    return Panel("durations", title, _barh(labels, secs, "seconds", colors) + "".join(table), True)


def _checks(check_report: Any) -> Panel:
    title = "Data check results"
    if check_report is None or not getattr(check_report, "results", None):
        return Panel("checks", title, _no_data("checks were not run"), False)
    from expectations.data_docs import results_table_html

    shown = type(check_report)(
        results=[r for r in check_report.results if r.status != "skipped"],
        layer=check_report.layer,
        run_id=check_report.run_id,
    )
    counts = ", ".join(f"{k}: {v}" for k, v in check_report.counts().items())
    verdict = "OK" if check_report.ok else "FAILED"
    head = f"<p><b>{verdict}</b> ({html.escape(counts)}; skipped checks not listed)</p>"
    return Panel("checks", title, head + results_table_html(shown), True)


def _integrity(d: _Data) -> Panel:
    """The CRM integrity counts of the latest check run that counted them (each must be 0)."""
    title = "CRM integrity (each count must be 0)"
    if not d.exists("ops", "check_results"):
        return Panel("integrity", title, _no_data("checks were not run"), False)
    df = d.df(
        "select check_name, status, failing_rows, detail, checked_at from ops.check_results "
        "where check_name like 'crm_integrity%'"
    )
    if df is None or df.empty:
        return Panel("integrity", title, _no_data("no integrity audit ran"), False)
    latest = df.sort_values("checked_at").drop_duplicates("check_name", keep="last").sort_values("check_name")
    rows = "".join(
        f"<tr><td>{html.escape(str(r.check_name))}</td><td>{html.escape(str(r.status))}</td>"
        f"<td>{'' if r.status == 'skipped' else int(r.failing_rows)}</td><td>{html.escape(str(r.detail))}</td></tr>"
        for r in latest.itertuples()
    )
    note = (
        "<p class='note'><code>[crm]</code>: counted in the CRM's own records after the push; without: "
        "the CRM as the last pull landed it.</p>"
    )
    table = f"<table><tr><th>check</th><th>status</th><th>count</th><th>detail</th></tr>{rows}</table>"
    return Panel("integrity", title, note + table, True)


PANELS: list[tuple[str, Callable[[_Data], Panel]]] = [
    ("rows_landed", _rows_landed),
    ("quarantine", _quarantine),
    ("match_weights", _weights),
    ("cluster_sizes", _cluster_sizes),
    ("created_vs_matched", _created_vs_matched),
    ("push_outcomes", _push_outcomes),
    ("integrity", _integrity),
]

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:1.5rem;color:#222;max-width:1100px}
section{border:1px solid #ddd;border-radius:6px;padding:.8rem 1rem;margin:1rem 0}
h2{font-size:1.1rem;margin:.2rem 0 .6rem}
img{max-width:100%}
.nodata{color:#777;font-style:italic;padding:1.5rem;background:#fafafa;text-align:center}
.note{color:#555;font-size:.85rem}
table{border-collapse:collapse;width:100%;font-size:.8rem;margin-top:.5rem}
th,td{border:1px solid #ddd;padding:.25rem .45rem;text-align:left;vertical-align:top}
th{background:#f4f4f4}
.badge{color:#fff;border-radius:3px;padding:0 .4rem;font-weight:600}
"""


def build_panels(settings: Settings, stages: list[dict[str, Any]], check_report: Any = None) -> list[Panel]:
    """Every panel of the report; a panel whose inputs fail to read becomes a "no data" panel."""
    from orchestration.report_analysts import ANALYST_PANELS  # imports this module's helpers

    panels: list[Panel] = []
    with _Data(settings) as d:
        for key, fn in [*PANELS, *ANALYST_PANELS]:
            try:
                panels.append(fn(d))
            except Exception as exc:  # a broken input must not cost the whole report
                panels.append(
                    Panel(key, key.replace("_", " "), _no_data(f"inputs unreadable ({type(exc).__name__})"), False)
                )
    panels.append(_durations(stages))
    panels.append(_checks(check_report))
    return panels


def render(settings: Settings, panels: list[Panel], generated_at: str) -> str:
    sections = "".join(f'<section id="{p.key}"><h2>{html.escape(p.title)}</h2>{p.body}</section>' for p in panels)
    meta = (
        f"generated {html.escape(generated_at)} · target {settings.target} · CRM {settings.crm_flavor} · "
        f"workdir <code>{html.escape(str(settings.workdir))}</code>"
    )
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>KORE run report {html.escape(generated_at)}</title><style>{CSS}</style></head><body>"
        f"<h1>KORE run report</h1><p class='note'>{meta}</p>{sections}</body></html>"
    )


def write_report(
    settings: Settings, stages: list[dict[str, Any]], check_report: Any = None, name: str | None = None
) -> Path:
    """Write ``<reports_dir>/run-report-<name or UTC time>.html`` (and ``run-report-latest.html``);
    return its path."""
    now = datetime.now(UTC)
    panels = build_panels(settings, stages, check_report)
    page = render(settings, panels, now.isoformat(timespec="seconds"))
    settings.reports_dir.mkdir(parents=True, exist_ok=True)
    path = settings.reports_dir / f"run-report-{name or f'{now:%Y%m%d-%H%M%S}'}.html"
    path.write_text(page, encoding="utf-8")
    (settings.reports_dir / "run-report-latest.html").write_text(page, encoding="utf-8")
    return path
