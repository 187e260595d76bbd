"""Reconciliation audits: cross-table and cross-system checks that GX suites cannot express.

Each audit is a function ``(ctx) -> CheckResult`` in plain SQL/pandas: it names the check and the
table, counts the failing rows and gives a few example *keys* (never names or e-mail addresses).
An audit whose inputs are missing returns a ``skipped`` result, so a partial pipeline can be
checked; the suites (see ``claims.py``) catch a table that should exist but does not.

Why these audits: they are the promises the migration makes to a client: every exported row is
either in the replica or in quarantine; after the catch-up the replica equals Archtics; ticket
counts and revenue survive modelling; every Archtics account ends up with exactly one CRM contact
(or is excluded, or waits for a person); no CRM contact gets two primary accounts (which would let two
Archtics accounts overwrite it); and what the push says it wrote is what the CRM holds.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from expectations.frames import TableReader
from expectations.results import MAX_EXAMPLES, CheckResult, keys_only
from expectations.suites import snake
from kore.config import Settings

# Business keys of the Archtics datasets (shared/domain/archtics-raw-schema.md).
BUSINESS_KEYS: dict[str, list[str]] = {
    "cust": ["acct_id", "cust_name_id"],
    "cust_address": ["acct_id", "cust_name_id", "cust_address_id"],
    "cust_email": ["acct_id", "cust_name_id", "email_id"],
    "cust_rep": ["acct_id", "acct_rep_id", "acct_rep_type"],
    "ticket": ["event_id", "section_id", "row_id", "seat_num", "ticket_status", "return_datetime"],
    "evnt": ["event_id"],
    "events_in_plan": ["plan_group_id", "plan_event_id", "event_id", "season_id"],
    "season": ["season_id"],
    "note": ["note_id", "task_stage_seq_num"],
}
REVENUE_TOLERANCE = 0.01


@dataclass
class AuditContext:
    settings: Settings
    reader: TableReader
    archtics_api_url: str | None = None
    archtics_client_id: str | None = None
    archtics_client_secret: str | None = None
    crm_url: str | None = None
    crm_headers: dict[str, str] = field(default_factory=dict)
    crm_verify: str | bool = True  # CA bundle of the CRM sandbox's self-signed certificate
    sample_size: int = 200
    http_timeout: float = 30.0


def _result(name: str, layer: str, table: str, severity: str, failing: int, examples: list[dict], detail: str):
    status = "failed" if failing else "passed"
    return CheckResult(name, layer, table, severity, status, failing, examples[:MAX_EXAMPLES], detail, "audit")  # type: ignore[arg-type]


def _skip(name: str, layer: str, table: str, severity: str, why: str) -> CheckResult:
    return CheckResult(name, layer, table, severity, "skipped", detail=why, kind="audit")  # type: ignore[arg-type]


def _norm_key(value: Any) -> str | None:
    """Keys compare as text: ``'1001'``, ``1001`` and ``1001.0`` are the same account."""
    if value is None or (isinstance(value, float) and pd.isna(value)) or value is pd.NA:
        return None
    s = str(value).strip()
    if re.fullmatch(r"-?\d+\.0+", s):
        s = s.split(".")[0]
    return s or None


def _read(ctx: AuditContext, qualified: str, columns: list[str]) -> pd.DataFrame | None:
    """Read named columns (case-insensitive) of a table; None when the table or a column is missing."""
    real = ctx.reader.resolve(qualified)
    if real is None:
        return None
    cols = ctx.reader.columns(*real)
    if any(c.lower() not in cols for c in columns):
        return None
    df = ctx.reader.read(*real, [cols[c.lower()] for c in columns])
    df.columns = [c.lower() for c in columns]
    return df


def _missing(ctx: AuditContext, *tables: str) -> list[str]:
    return [t for t in tables if not ctx.reader.exists(t)]


# -- manifest --------------------------------------------------------------------------------------


def _norm_path(p: str) -> str:
    return str(p).replace("\\", "/").lstrip("./")


def find_manifest(ctx: AuditContext) -> Path | None:
    """The manifest landing recorded (file_ledger / load_cutoff ``manifest_path``), else the export's."""
    for table in ("raw_archtics.file_ledger", "raw_archtics.load_cutoff"):
        df = _read(ctx, table, ["manifest_path"])
        if df is not None:
            for p in df["manifest_path"].dropna().astype(str):
                if Path(p).exists():
                    return Path(p)
    p = ctx.settings.export_dir / "manifest.json"
    return p if p.exists() else None


def manifest_reconciliation(ctx: AuditContext) -> CheckResult:
    """Per export file: manifest rows == rows landed (file ledger) + rows quarantined."""
    name, layer, table = "manifest_rows_equal_landed_plus_quarantined", "raw", "raw_archtics.file_ledger"
    manifest = find_manifest(ctx)
    if manifest is None:
        return _skip(name, layer, table, "fail", "no export manifest found")
    # the export pipeline's ledger: rows (data rows read) = landed + quarantined; older ledgers: rows only
    ledger = _read(ctx, table, ["path", "landed"])
    if ledger is None:
        ledger = _read(ctx, table, ["path", "rows"])
        if ledger is not None:
            ledger = ledger.rename(columns={"rows": "landed"})
    if ledger is None:
        return _skip(name, layer, table, "fail", "table missing: raw_archtics.file_ledger (export not landed)")
    files = json.loads(manifest.read_text(encoding="utf-8")).get("files", [])
    ledger["path"] = ledger["path"].astype(str).map(_norm_path)
    landed: dict[str, int] = {}
    for p, n in zip(ledger["path"], pd.to_numeric(ledger["landed"], errors="coerce").fillna(0), strict=True):
        landed[p] = landed.get(p, 0) + int(n)
    q = _read(ctx, "raw_archtics.quarantine", ["source_file"])
    q_counts = q["source_file"].astype(str).map(_norm_path).value_counts().to_dict() if q is not None else {}

    def matches(stored: str, rel: str) -> bool:
        return stored == rel or stored.endswith("/" + rel)

    bad: list[dict[str, Any]] = []
    for f in files:
        rel = _norm_path(f["path"])
        got = [n for p, n in landed.items() if matches(p, rel)]
        quarantined = sum(n for p, n in q_counts.items() if matches(p, rel))
        expected = int(f.get("rows", 0))
        if not got:
            bad.append({"file": rel, "manifest_rows": expected, "landed": None, "quarantined": quarantined})
        elif sum(got) + quarantined != expected:
            bad.append({"file": rel, "manifest_rows": expected, "landed": sum(got), "quarantined": quarantined})
    detail = f"{len(files)} files in {manifest.name}; {len(bad)} do not add up"
    return _result(name, layer, table, "fail", len(bad), bad, detail)


# -- replica vs live Archtics -----------------------------------------------------------------------


def _archtics_session(ctx: AuditContext):
    import requests

    s = requests.Session()
    if ctx.archtics_client_id and ctx.archtics_client_secret:
        r = s.post(
            ctx.archtics_api_url.rstrip("/") + "/oauth/token",  # type: ignore[union-attr]
            data={
                "grant_type": "client_credentials",
                "client_id": ctx.archtics_client_id,
                "client_secret": ctx.archtics_client_secret,
            },
            timeout=ctx.http_timeout,
        )
        r.raise_for_status()
        s.headers["Authorization"] = f"Bearer {r.json()['access_token']}"
    return s


def _live_state(ctx: AuditContext, dataset: str) -> list[dict[str, Any]]:
    """All live rows of a dataset from the sandbox's ``GET /admin/state`` (following page tokens)."""
    session = _archtics_session(ctx)
    rows: list[dict[str, Any]] = []
    params: dict[str, Any] = {"dataset": dataset}
    url = ctx.archtics_api_url.rstrip("/") + "/admin/state"  # type: ignore[union-attr]
    while True:
        r = session.get(url, params=params, timeout=ctx.http_timeout)
        r.raise_for_status()
        payload = r.json()
        rows.extend(_rows_of(payload))
        token = payload.get("next_page_token") if isinstance(payload, dict) else None
        if not token:
            return rows
        params = {"dataset": dataset, "page_token": token}


def _rows_of(payload: Any) -> list[dict[str, Any]]:
    if isinstance(payload, list):
        return payload
    for k in ("rows", "records", "value", "data"):
        if isinstance(payload, dict) and isinstance(payload.get(k), list):
            return payload[k]
    return []


def _text(v: Any) -> str:
    n = _norm_key(v)
    return "" if n is None else n


def replica_equals_live(ctx: AuditContext, dataset: str) -> CheckResult:
    """For a sample of business keys, the replica row equals the sandbox's live Archtics row."""
    name, layer, table = f"replica_equals_live_archtics[{dataset}]", "raw", f"raw_archtics.{dataset}"
    if not ctx.archtics_api_url:
        return _skip(name, layer, table, "fail", "no Archtics API URL given")
    if not ctx.reader.exists(table):
        return _skip(name, layer, table, "fail", f"table missing: {table}")
    live = pd.DataFrame(_live_state(ctx, dataset))
    keys = [k for k in BUSINESS_KEYS[dataset] if k in live.columns]
    if live.empty:
        return _result(name, layer, table, "fail", 0, [], "live state is empty")
    real = ctx.reader.resolve(table)
    assert real is not None
    rcols = ctx.reader.columns(*real)
    compare = [c for c in live.columns if c.lower() in rcols and not c.startswith("_") and c != "change_ts"]
    replica = ctx.reader.read(*real, [rcols[c.lower()] for c in compare])
    replica.columns = compare
    sample = live.sample(n=min(ctx.sample_size, len(live)), random_state=7)

    def keyed(df: pd.DataFrame) -> dict[tuple, dict[str, str]]:
        out = {}
        for rec in df.to_dict("records"):
            out[tuple(_text(rec.get(k)) for k in keys)] = {c: _text(rec.get(c)) for c in compare}
        return out

    rep = keyed(replica)
    bad: list[dict[str, Any]] = []
    for key, row in keyed(sample).items():
        got = rep.get(key)
        if got is None:
            bad.append({**dict(zip(keys, key, strict=True)), "problem": "missing in replica"})
        else:
            diff = sorted(c for c in compare if got[c] != row[c])
            if diff:
                bad.append({**dict(zip(keys, key, strict=True)), "problem": "differs: " + ",".join(diff[:5])})
    detail = f"{len(sample)} of {len(live)} live rows sampled, {len(bad)} differ from the replica"
    return _result(name, layer, table, "fail", len(bad), bad, detail)


# -- ticket totals ----------------------------------------------------------------------------------

# The Archtics active-ticket rule, written independently of the dbt models so that it can check them:
# active per-event rows, plus active plan-level rows (plan_event_id = event_id) with no expanded
# per-event row of the same plan and seat; an active row is cancelled by a later returned ('R') row of
# the same account, event, section, row and seat.
RAW_TICKET_TOTALS = """
with t as (
    select acct_id, event_id, plan_event_id, section_id, row_id, seat_num, ticket_status, price_code,
           upd_datetime, try_cast(num_seats as float) as seats, try_cast(purchase_price as float) as price,
           case when plan_event_id = event_id then 1 else 0 end as plan_level
    from raw_archtics.ticket
),
active as (
    select a.* from t a
    where a.ticket_status = 'A'
      and not exists (
          select 1 from t r
          where r.ticket_status = 'R' and r.acct_id = a.acct_id and r.event_id = a.event_id
            and r.section_id = a.section_id and r.row_id = a.row_id and r.seat_num = a.seat_num
            and r.upd_datetime > a.upd_datetime)
      and (a.plan_level = 0 or not exists (
          select 1 from t x
          where x.plan_level = 0 and x.plan_event_id = a.event_id and x.section_id = a.section_id
            and x.row_id = a.row_id and x.seat_num = a.seat_num))
)
select event_id, price_code, count(*) as row_count, sum(seats) as seats, sum(price) as revenue
from {source}
group by event_id, price_code
"""


def _compare_totals(raw: pd.DataFrame, mart: pd.DataFrame, measures: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    for df in (raw, mart):
        df["event_id"] = df["event_id"].map(_text)
        df["price_code"] = df["price_code"].map(_text)
    both = raw.merge(mart, on=["event_id", "price_code"], how="outer", suffixes=("_raw", "_mart")).fillna(0)
    off = pd.Series(False, index=both.index)
    for m in measures:
        tol = REVENUE_TOLERANCE if m == "revenue" else 1e-9
        off |= (both[f"{m}_raw"].astype(float) - both[f"{m}_mart"].astype(float)).abs() > tol
    return both, both[off]


def ticket_totals_match(ctx: AuditContext) -> CheckResult:
    """Active seats and revenue per (event, price code): raw Archtics tickets == marts.fct_ticket_purchases.

    The mart side counts rows with ``is_active = 1`` (the mart holds every ticket row); a mart without
    ``is_active`` is taken to hold active tickets only.
    """
    name, layer, table = "ticket_totals_per_event_and_price_code", "marts", "marts.fct_ticket_purchases"
    missing = _missing(ctx, "raw_archtics.ticket", table)
    if missing:
        return _skip(name, layer, table, "fail", "table missing: " + ", ".join(missing))
    mart = _read(ctx, table, ["event_id", "price_code", "num_seats", "purchase_price", "is_active"])
    if mart is None:
        mart = _read(ctx, table, ["event_id", "price_code", "num_seats", "purchase_price"])
        if mart is None:
            return CheckResult(
                name, layer, table, "fail", "error", detail="mart lacks event_id/price_code/num_seats/purchase_price"
            )
        mart["is_active"] = 1
    mart = mart[pd.to_numeric(mart["is_active"], errors="coerce") == 1]
    m = (
        mart.assign(
            seats=pd.to_numeric(mart["num_seats"], errors="coerce"),
            revenue=pd.to_numeric(mart["purchase_price"], errors="coerce"),
        )
        .groupby(["event_id", "price_code"], dropna=False)[["seats", "revenue"]]
        .sum()
        .reset_index()
    )
    raw = ctx.reader.query_df(RAW_TICKET_TOTALS.format(source="active"))
    raw.columns = [c.lower() for c in raw.columns]
    both, off = _compare_totals(raw[["event_id", "price_code", "seats", "revenue"]], m, ["seats", "revenue"])
    examples = [
        {
            "event_id": r.event_id,
            "price_code": r.price_code,
            "raw_seats": float(r.seats_raw),
            "mart_seats": float(r.seats_mart),
            "raw_revenue": round(float(r.revenue_raw), 2),
            "mart_revenue": round(float(r.revenue_mart), 2),
        }
        for r in off.head(MAX_EXAMPLES).itertuples()
    ]
    detail = (
        f"{len(both)} (event, price code) groups of active tickets; raw revenue {both['revenue_raw'].sum():.2f}, "
        f"mart revenue {both['revenue_mart'].sum():.2f}"
    )
    return _result(name, layer, table, "fail", len(off), examples, detail)


def ticket_rows_match(ctx: AuditContext) -> CheckResult:
    """Ticket rows per (event, price code): raw == mart, when the mart holds every row (has is_active).

    Catches rows an incremental model lost or duplicated, which the active totals may not show.
    """
    name, layer, table = "ticket_rows_per_event_and_price_code", "marts", "marts.fct_ticket_purchases"
    missing = _missing(ctx, "raw_archtics.ticket", table)
    if missing:
        return _skip(name, layer, table, "fail", "table missing: " + ", ".join(missing))
    mart = _read(ctx, table, ["event_id", "price_code", "is_active"])
    if mart is None:
        return _skip(name, layer, table, "fail", "mart holds active tickets only (no is_active column)")
    m = mart.groupby(["event_id", "price_code"], dropna=False).size().rename("row_count").reset_index()
    raw = ctx.reader.query_df(RAW_TICKET_TOTALS.format(source="t"))
    raw.columns = [c.lower() for c in raw.columns]
    both, off = _compare_totals(raw[["event_id", "price_code", "row_count"]], m, ["row_count"])
    examples = [
        {"event_id": r.event_id, "price_code": r.price_code, "raw_rows": int(r.row_count_raw),
         "mart_rows": int(r.row_count_mart)}
        for r in off.head(MAX_EXAMPLES).itertuples()
    ]  # fmt: skip
    detail = f"{len(both)} (event, price code) groups, {int(both['row_count_raw'].sum())} raw ticket rows"
    return _result(name, layer, table, "fail", len(off), examples, detail)


# -- mapping ----------------------------------------------------------------------------------------


def _review_queue_accounts(ctx: AuditContext) -> set[str]:
    real = ctx.reader.resolve("kore_dedup.review_queue")
    if real is None:
        return set()
    cols = ctx.reader.columns(*real)
    out: set[str] = set()
    if "acct_id" in cols:
        out |= {k for k in ctx.reader.read(*real, [cols["acct_id"]]).iloc[:, 0].map(_norm_key) if k}
    for c in ("record_id_l", "record_id_r", "record_id"):
        if c in cols:
            for rid in ctx.reader.read(*real, [cols[c]]).iloc[:, 0].dropna().astype(str):
                if rid.startswith("A:"):
                    out.add(rid.split(":")[1])
    return out


def every_account_mapped_once(ctx: AuditContext) -> CheckResult:
    """Every Archtics account: mapped to exactly one CRM contact, excluded by Account Type, or in review.

    An account Archtics merged into another (``int.int_archtics_account_merges``) may be unmapped.
    """
    name, layer, table = "every_account_mapped_excluded_or_in_review", "dedup", "kore_dedup.account_contact_map"
    missing = _missing(ctx, "raw_archtics.cust", table)
    if missing:
        return _skip(name, layer, table, "fail", "table missing: " + ", ".join(missing))
    cust = _read(ctx, "raw_archtics.cust", ["acct_id", "acct_type_desc"])
    if cust is None:
        cust = _read(ctx, "raw_archtics.cust", ["acct_id"])
        assert cust is not None
        cust["acct_type_desc"] = None
    mapping = _read(ctx, table, ["acct_id", "crm_contact_key"])
    if mapping is None:
        return CheckResult(name, layer, table, "fail", "error", detail="mapping lacks acct_id/crm_contact_key")
    cust["acct_id"] = cust["acct_id"].map(_norm_key)
    excluded_types = {t.lower() for t in ctx.settings.excluded_account_types}
    excluded = set(cust.loc[cust["acct_type_desc"].astype(str).str.lower().isin(excluded_types), "acct_id"])
    in_review = _review_queue_accounts(ctx)
    merged = _read(ctx, "int.int_archtics_account_merges", ["old_acct_id"])
    merged_away = set(merged["old_acct_id"].map(_norm_key)) if merged is not None else set()
    per_acct = mapping.assign(acct_id=mapping["acct_id"].map(_norm_key)).groupby("acct_id")["crm_contact_key"]
    n_contacts = per_acct.nunique().to_dict()
    bad: list[dict[str, Any]] = []
    accounts = sorted(a for a in set(cust["acct_id"]) if a)
    for acct in accounts:
        n = n_contacts.get(acct, 0)
        if n == 1 or acct in excluded or acct in in_review or (n == 0 and acct in merged_away):
            continue
        bad.append({"acct_id": acct, "mapped_contacts": int(n)})
    detail = (
        f"{len(accounts)} accounts: {len(excluded)} excluded by Account Type, {len(in_review)} in review, "
        f"{len(merged_away)} merged away, "
        f"{len(bad)} neither mapped once nor excluded nor in review"
    )
    return _result(name, layer, table, "fail", len(bad), bad, detail)


def one_primary_per_contact(ctx: AuditContext) -> CheckResult:
    """No CRM contact has two primary Archtics accounts (two accounts would both overwrite it)."""
    name, layer, table = "at_most_one_primary_account_per_contact", "dedup", "kore_dedup.account_contact_map"
    mapping = _read(ctx, table, ["crm_contact_key", "is_primary", "acct_id"])
    if mapping is None:
        return _skip(name, layer, table, "fail", f"table missing: {table}")
    prim = mapping[pd.to_numeric(mapping["is_primary"], errors="coerce") == 1]
    counts = prim.groupby("crm_contact_key")["acct_id"].nunique()
    bad_keys = counts[counts > 1]
    examples = [{"crm_contact_key": k, "primary_accounts": int(n)} for k, n in bad_keys.head(MAX_EXAMPLES).items()]
    detail = f"{prim['crm_contact_key'].nunique()} contacts with a primary account"
    return _result(name, layer, table, "fail", int(len(bad_keys)), examples, detail)


# -- references -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reference:
    layer: str
    child: str
    child_column: str
    parent: str
    parent_column: str
    severity: str = "fail"
    missing_column_severity: str = "fail"

    @property
    def name(self) -> str:
        return f"reference:{self.child_column}->{self.parent}.{self.parent_column}"


def reference_holds(ctx: AuditContext, ref: Reference) -> CheckResult:
    """Every non-null ``child.child_column`` value exists in ``parent.parent_column``."""
    missing = _missing(ctx, ref.child, ref.parent)
    if missing:
        return _skip(ref.name, ref.layer, ref.child, ref.severity, "table missing: " + ", ".join(missing))
    child = _read(ctx, ref.child, [ref.child_column])
    parent = _read(ctx, ref.parent, [ref.parent_column])
    if child is None or parent is None:
        return CheckResult(
            ref.name,
            ref.layer,
            ref.child,
            ref.missing_column_severity,  # type: ignore[arg-type]
            "error",
            detail=f"column missing: {ref.child}.{ref.child_column} or {ref.parent}.{ref.parent_column}",
            kind="audit",
        )
    have = set(parent.iloc[:, 0].map(_norm_key))
    vals = child.iloc[:, 0].map(_norm_key)
    orphans = vals[vals.notna() & ~vals.isin(have)]
    examples = keys_only([{ref.child_column: v} for v in orphans.drop_duplicates()], [ref.child_column])
    detail = f"{int(vals.notna().sum())} references, {len(orphans)} point to no {ref.parent} row"
    return _result(ref.name, ref.layer, ref.child, ref.severity, len(orphans), examples, detail)


def references(settings: Settings) -> list[Reference]:
    """Hand-listed references plus every kore_*base prerequisite key from the entity registry."""
    from kore import registry

    refs = [
        Reference("raw", "raw_archtics.ticket", "acct_id", "raw_archtics.cust", "acct_id", severity="warn"),
        Reference("dedup", "kore_dedup.account_contact_map", "acct_id", "raw_archtics.cust", "acct_id"),
        Reference(
            "dedup", "kore_dedup.account_contact_map", "crm_contact_key", "kore_dedup.golden_contacts", "contact_key"
        ),
        Reference("dedup", "kore_dedup.clusters", "record_id", "dedup.dedup_person_records", "record_id", "warn"),
        Reference("kore", "kore.SyncedTicketPurchases", "contact_key", "kore_dedup.golden_contacts", "contact_key"),
        Reference("marts", "marts.fct_ticket_purchases", "acct_id", "raw_archtics.cust", "acct_id"),
        Reference(
            "marts",
            "marts.dim_contact",
            "primary_acct_id",
            "raw_archtics.cust",
            "acct_id",
            missing_column_severity="warn",
        ),
    ]
    by_name = {e.entity: e for e in registry.load()}
    for e in registry.load():
        if e.direction != "kore_to_crm":
            continue
        for p in e.prerequisites:
            parent = by_name[p]
            refs.append(
                Reference(
                    "kore",
                    f"kore.{e.kore_table}",
                    f"{snake(p)}_key",
                    f"kore.{parent.kore_table}",
                    "external_key",
                    missing_column_severity="warn",
                )
            )
    return refs


# -- CRM pushed vs CRM ------------------------------------------------------------------------------

_STATUS_COLUMNS = ("status", "outcome", "result", "action")
_PUSHED = {"synced", "created", "updated", "unchanged", "success"}


def _crm_records(ctx: AuditContext, entity: str) -> tuple[str, list[dict[str, Any]]] | None:
    """(CRM table name, records) from the CRM sandbox's ``GET /admin/records``; None if unknown."""
    import requests

    r = requests.get(
        ctx.crm_url.rstrip("/") + "/admin/records",  # type: ignore[union-attr]
        params={"entity": entity},
        headers=ctx.crm_headers,
        verify=ctx.crm_verify,
        timeout=ctx.http_timeout,
    )
    if r.status_code in (400, 404):
        return None
    r.raise_for_status()
    payload = r.json()
    return (str(payload.get("table", entity)) if isinstance(payload, dict) else entity), _rows_of(payload)


def _record_ids(table: str, records: list[dict[str, Any]]) -> set[str]:
    """Record ids: Salesforce ``Id``, Dynamics ``<logicalname>id``."""
    fields = ("Id", f"{table}id", f"{table.lower()}id")
    return {str(rec[f]) for rec in records for f in fields if rec.get(f)}


def _record_keys(records: list[dict[str, Any]]) -> set[str]:
    """KORE external keys (``koreps_externalkey``, ``kore_externalkey``, ``koreps__KORE_External_Key__c``)."""
    out = set()
    for rec in records:
        for k, v in rec.items():
            if "externalkey" in k.lower().replace("_", "") and v:
                out.add(str(v))
    return out


def pushed_rows_in_crm(ctx: AuditContext) -> CheckResult:
    """Every row ``ops.crm_sync_state`` records as synced exists in the CRM (by CRM id or external key)."""
    name, layer, table = "pushed_rows_equal_crm_records", "kore", "ops.crm_sync_state"
    if not ctx.crm_url:
        return _skip(name, layer, table, "fail", "no CRM URL given")
    real = ctx.reader.resolve(table)
    if real is None:
        return _skip(name, layer, table, "fail", f"table missing: {table}")
    cols = ctx.reader.columns(*real)
    want = [c for c in ("crm_flavor", "entity", "external_key", "crm_id", *_STATUS_COLUMNS) if c in cols]
    if "entity" not in want or not ({"external_key", "crm_id"} & set(want)):
        return CheckResult(name, layer, table, "fail", "error", detail="sync state lacks entity and key columns")
    state = ctx.reader.read(*real, [cols[c] for c in want])
    state.columns = want
    if "crm_flavor" in want:
        state = state[state["crm_flavor"].astype(str) == ctx.settings.crm_flavor]
    status_col = next((c for c in _STATUS_COLUMNS if c in want), None)
    if status_col:
        state = state[state[status_col].astype(str).str.lower().isin(_PUSHED)]
    bad: list[dict[str, Any]] = []
    checked = 0
    for entity, rows in state.groupby("entity"):
        got = _crm_records(ctx, str(entity))
        if got is None:
            bad.append({"entity": entity, "problem": "the CRM has no such entity"})
            continue
        crm_table, records = got
        ids, keys = _record_ids(crm_table, records), _record_keys(records)
        for rec in rows.to_dict("records"):
            checked += 1
            cid, ek = _norm_key(rec.get("crm_id")), _norm_key(rec.get("external_key"))
            if (cid and cid in ids) or (not cid and ek and ek in keys):
                continue
            bad.append({"entity": entity, "external_key": ek, "crm_id": cid})
    detail = f"{checked} pushed rows compared with the CRM, {len(bad)} not found there"
    return _result(name, layer, table, "fail", len(bad), bad, detail)


# -- the list the runner uses ----------------------------------------------------------------------


def audits_for(layer: str, ctx: AuditContext) -> list[tuple[str, str, str, Callable[[], CheckResult]]]:
    """(layer, name, table, thunk) for every audit in the layer (or in all layers)."""
    items: list[tuple[str, str, str, Callable[[], CheckResult]]] = [
        (
            "raw",
            "manifest_rows_equal_landed_plus_quarantined",
            "raw_archtics.file_ledger",
            lambda: manifest_reconciliation(ctx),
        ),
    ]
    if ctx.archtics_api_url:
        for ds in BUSINESS_KEYS:
            items.append(
                (
                    "raw",
                    f"replica_equals_live_archtics[{ds}]",
                    f"raw_archtics.{ds}",
                    lambda ds=ds: replica_equals_live(ctx, ds),
                )
            )
    items += [
        (
            "marts",
            "ticket_totals_per_event_and_price_code",
            "marts.fct_ticket_purchases",
            lambda: ticket_totals_match(ctx),
        ),
        ("marts", "ticket_rows_per_event_and_price_code", "marts.fct_ticket_purchases", lambda: ticket_rows_match(ctx)),
        (
            "dedup",
            "every_account_mapped_excluded_or_in_review",
            "kore_dedup.account_contact_map",
            lambda: every_account_mapped_once(ctx),
        ),
        (
            "dedup",
            "at_most_one_primary_account_per_contact",
            "kore_dedup.account_contact_map",
            lambda: one_primary_per_contact(ctx),
        ),
        ("kore", "pushed_rows_equal_crm_records", "ops.crm_sync_state", lambda: pushed_rows_in_crm(ctx)),
    ]
    for ref in references(ctx.settings):
        items.append((ref.layer, ref.name, ref.child, lambda ref=ref: reference_holds(ctx, ref)))
    return [item for item in items if layer in ("all", item[0])]
