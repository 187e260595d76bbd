"""The sandbox's check plug-in: audits that reconcile the warehouse with the sandbox's own state.

``kore check`` finds :func:`audits` through the entry point ``[project.entry-points."kore.checks"]``
``sandbox = "sandbox.checks:audits"`` (see ``kore.contracts.checks``); production code never imports
this module. The audits read the sandbox-only admin endpoints, over real HTTP:

* ``replica_equals_live_archtics[<dataset>]`` (raw): for a sample of business keys
  (``kore.contracts.archtics.DATASETS``), the replica row equals the live Archtics row of the
  sandbox Archtics API's ``GET /admin/state`` (after the catch-up the replica equals Archtics).
  Listed only when the caller gives an Archtics API URL.
* ``pushed_rows_equal_crm_records`` (kore): every row ``ops.crm_sync_state`` records as pushed
  exists in the sandbox CRM's store (``GET /admin/record_keys``), by CRM id or KORE external key:
  what the push says it wrote is what the CRM holds. Skipped without a CRM URL.
* ``crm_integrity_*[crm]`` (kore): the CRM integrity audit counted in the sandbox CRM's own records
  and, for duplicated people, the generator's ground truth (:mod:`sandbox.integrity_checks`).
  Listed only with a CRM URL.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from kore.contracts.archtics import DATASETS
from kore.contracts.checks import (
    Audit,
    CheckContext,
    CheckResult,
    audit_result,
    audit_skipped,
    key_text,
    normalize_keys,
)
from sandbox.integrity_checks import audits as integrity_audits


def _archtics_session(ctx: CheckContext):
    """A session with the Archtics API's bearer token (none without client credentials)."""
    import requests

    s = requests.Session()
    client_id, secret = ctx.archtics_credentials.get("client_id"), ctx.archtics_credentials.get("client_secret")
    if client_id and secret:
        r = s.post(
            ctx.archtics_api_url.rstrip("/") + "/oauth/token",  # type: ignore[union-attr]
            data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret},
            timeout=ctx.http_timeout,
        )
        r.raise_for_status()
        s.headers["Authorization"] = f"Bearer {r.json()['access_token']}"
    return s


def _live_state(ctx: CheckContext, dataset: str, sample: int | None = None) -> list[dict[str, Any]]:
    """Live rows of a dataset from the sandbox's ``GET /admin/state``: all of them (following page
    tokens), or ``sample`` rows drawn at random by the sandbox."""
    session = _archtics_session(ctx)
    rows: list[dict[str, Any]] = []
    params: dict[str, Any] = {"dataset": dataset}
    if sample is not None:
        params.update(sample=sample, seed=7)
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
    """The rows of an admin reply: a bare list, or the list under rows/records/value/data."""
    if isinstance(payload, list):
        return payload
    for k in ("rows", "records", "value", "data"):
        if isinstance(payload, dict) and isinstance(payload.get(k), list):
            return payload[k]
    return []


def replica_equals_live(ctx: CheckContext, dataset: str) -> CheckResult:
    """For a sample of business keys, the replica row equals the sandbox's live Archtics row."""
    name, layer, table = f"replica_equals_live_archtics[{dataset}]", "raw", f"raw_archtics.{dataset}"
    if not ctx.archtics_api_url:
        return audit_skipped(name, layer, table, "fail", "no Archtics API URL given")
    rcols = ctx.tables.columns(table)
    if rcols is None:
        return audit_skipped(name, layer, table, "fail", f"table missing: {table}")
    sample = pd.DataFrame(_live_state(ctx, dataset, sample=ctx.sample_size))
    keys = [k for k in DATASETS[dataset].business_key if k in sample.columns]
    if sample.empty:
        return audit_result(name, layer, table, "fail", 0, [], "live state is empty")
    compare = [c for c in sample.columns if c.lower() in rcols and not c.startswith("_") and c != "change_ts"]
    wanted = pd.DataFrame({k: sample[k].map(key_text) for k in keys})
    # only the sampled keys' rows: the warehouse filters, not a copy of the whole table
    keyed_read = keys and all(k.lower() in rcols for k in keys)
    replica = ctx.tables.read_matching(table, compare, wanted) if keyed_read else ctx.tables.read(table, compare)

    def keyed(df: pd.DataFrame) -> dict[tuple, dict[str, str]]:
        out = {}
        for rec in df.to_dict("records"):
            out[tuple(key_text(rec.get(k)) for k in keys)] = {c: key_text(rec.get(c)) for c in compare}
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
    detail = f"{len(sample)} live rows sampled, {len(bad)} differ from the replica"
    return audit_result(name, layer, table, "fail", len(bad), bad, detail)


_STATUS_COLUMNS = ("status", "outcome", "result", "action")
_PUSHED = {"synced", "created", "updated", "unchanged", "success"}


def _crm_keys(ctx: CheckContext, entity: str) -> tuple[set[str], set[str]] | None:
    """(CRM ids, KORE external keys) of an entity's records, from the CRM sandbox's
    ``GET /admin/record_keys``; None if the CRM has no such entity."""
    import requests

    r = requests.get(
        ctx.crm_url.rstrip("/") + "/admin/record_keys",  # type: ignore[union-attr]
        params={"entity": entity},
        headers=ctx.crm_headers,
        verify=ctx.crm_verify,
        timeout=ctx.http_timeout,
    )
    if r.status_code in (400, 404):
        return None
    r.raise_for_status()
    payload = r.json()
    ids, keys = (set(normalize_keys(pd.Series(payload[k], dtype=object)).dropna()) for k in ("ids", "external_keys"))
    return ids, keys


def pushed_rows_in_crm(ctx: CheckContext) -> CheckResult:
    """Every row ``ops.crm_sync_state`` records as synced exists in the CRM: by its CRM id, or, for a
    row that has none, by its external key (the CRM record's own key field, not a lookup to a parent)."""
    name, layer, table = "pushed_rows_equal_crm_records", "kore", "ops.crm_sync_state"
    if not ctx.crm_url:
        return audit_skipped(name, layer, table, "fail", "no CRM URL given")
    cols = ctx.tables.columns(table)
    if cols is None:
        return audit_skipped(name, layer, table, "fail", f"table missing: {table}")
    want = [c for c in ("crm_flavor", "entity", "external_key", "crm_id", *_STATUS_COLUMNS) if c in cols]
    if "entity" not in want or not ({"external_key", "crm_id"} & set(want)):
        return CheckResult(name, layer, table, "fail", "error", detail="sync state lacks entity and key columns")
    state = ctx.tables.read(table, want)
    if "crm_flavor" in want:
        state = state[state["crm_flavor"].astype(str) == ctx.crm_flavor]
    status_col = next((c for c in _STATUS_COLUMNS if c in want), None)
    if status_col:
        state = state[state[status_col].astype(str).str.lower().isin(_PUSHED)]
    bad: list[dict[str, Any]] = []
    for entity, rows in state.groupby("entity"):
        got = _crm_keys(ctx, str(entity))
        if got is None:
            bad.append({"entity": entity, "problem": "the CRM has no such entity"})
            continue
        ids, keys = got
        cid = normalize_keys(rows["crm_id"]) if "crm_id" in rows else pd.Series(None, index=rows.index)
        ek = normalize_keys(rows["external_key"]) if "external_key" in rows else pd.Series(None, index=rows.index)
        found = cid.isin(ids) | (cid.isna() & ek.isin(keys))
        bad.extend(
            {"entity": entity, "external_key": k, "crm_id": c} for k, c in zip(ek[~found], cid[~found], strict=True)
        )
    detail = f"{len(state)} pushed rows compared with the CRM, {len(bad)} not found there"
    return audit_result(name, layer, table, "fail", len(bad), bad, detail)


def audits(ctx: CheckContext) -> list[Audit]:
    """The plug-in (entry point ``kore.checks``): the replica audits when an Archtics API URL is
    given, and the CRM reconciliation (skipped without a CRM URL)."""
    items: list[Audit] = []
    if ctx.archtics_api_url:
        for ds in DATASETS:
            items.append(
                Audit("raw", f"replica_equals_live_archtics[{ds}]", f"raw_archtics.{ds}",
                      lambda ds=ds: replica_equals_live(ctx, ds), ())
            )  # fmt: skip
    items.append(Audit("kore", "pushed_rows_equal_crm_records", "ops.crm_sync_state", lambda: pushed_rows_in_crm(ctx)))
    if ctx.crm_url:
        items.extend(integrity_audits(ctx))
    return items
