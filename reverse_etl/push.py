"""Push KORE-owned data to the CRM: contacts/accounts from dedup, then every KORE entity in order.

Order and prerequisites: accounts, then contacts (from ``kore_dedup.golden_contacts``), then the
registry's KORE-owned entities in push order (``kore.registry.kore_to_crm(flavor)``). Entities run
one after another, so every parent entity has finished before a child entity starts; a child row
whose parent is not in the CRM (failed, waiting, or missing) is not sent and waits
(``waiting_parent``) until a later run has pushed the parent. Parents are referenced by their KORE
external key, so the CRM resolves them itself.

What is sent: only rows whose ``row_hash`` differs from the last successful push (or that failed or
waited last time). Each row's outcome goes to ``ops.crm_sync_state`` (one row per crm_flavor,
entity, external_key). Writes are upserts by external key, so repeating a request after a timeout
never creates a duplicate.

Batching: Salesforce sObject Collections (200 records a call); Dynamics ``$batch`` (up to 1,000
requests, in change sets; a change set that fails is re-sent request by request so one bad row
cannot hold back its neighbours). A few threads send batches concurrently; throttling answers are
retried after ``Retry-After`` (see ``clients``).
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pandas as pd
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from crm_clients.clients import CrmClientError, DynamicsClient, SalesforceClient
from kore.config import Settings
from kore.contracts import crm_names, odata_batch
from kore.registry import Entity, kore_to_crm
from kore.runlog import RunRecord, run_record, write_records
from kore.warehouse import Warehouse, connect

STATE_SCHEMA, STATE_TABLE = "ops", "crm_sync_state"
STATE_COLUMNS = [
    "crm_flavor",
    "entity",
    "external_key",
    "crm_id",
    "row_hash",
    "status",
    "error",
    "attempts",
    "last_attempt_at",
]
SF_COLLECTION_SIZE = 200
DYN_BATCH_SIZE = 1000
DYN_CHANGESET_SIZE = 100
CONCURRENCY = 3
DEDUP_SCHEMA = "kore_dedup"

console = Console(stderr=True)


@dataclass
class PushRow:
    key: str
    row_hash: str
    body: dict[str, Any]  # flavour field names; lookups already in the flavour's reference syntax
    parents: list[tuple[str, str]]  # (entity, external key) that must exist in the CRM first
    crm_id: str | None = None  # a preexisting CRM record this row updates (contacts matched by dedup)


@dataclass
class Outcome:
    status: str  # synced | failed
    crm_id: str | None = None
    error: str | None = None
    created: bool = False


@dataclass
class Target:
    """Where one entity's rows go in the flavour's CRM."""

    entity: str
    crm_name: str  # logical name / sObject
    id_field: str
    ext_field: str


@dataclass
class EntityResult:
    rows: int = 0
    excluded: int = 0
    invalid: int = 0
    unchanged: int = 0
    waiting_parent: int = 0
    sent: int = 0
    created: int = 0
    updated: int = 0
    failed: int = 0
    requests: int = 0
    source: str = ""
    seconds: float = 0.0
    errors: dict[str, int] = field(default_factory=dict)


# -- pure helpers --------------------------------------------------------------------------------


def jsonable(v: Any) -> Any:
    """A warehouse value as JSON (NaN/NaT → null, timestamps → ISO text, numpy → Python)."""
    if v is None:
        return None
    if isinstance(v, float) and math.isnan(v):
        return None
    if v is pd.NaT:
        return None
    if isinstance(v, datetime | pd.Timestamp):
        return v.isoformat()
    if isinstance(v, date):
        return v.isoformat()
    if isinstance(v, Decimal):
        return float(v)
    if hasattr(v, "item") and not isinstance(v, str | bytes):
        try:
            return v.item()
        except (ValueError, AttributeError):
            return str(v)
    try:
        if pd.isna(v):
            return None
    except (TypeError, ValueError):
        pass
    return v


def payload_hash(body: dict[str, Any]) -> str:
    return hashlib.sha1(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    cols = list(df.columns)
    return [{c: jsonable(v) for c, v in zip(cols, row, strict=True)} for row in df.itertuples(index=False, name=None)]


def _excluded(row: dict[str, Any], excluded_types: tuple[str, ...]) -> bool:
    flag = row.get("is_excluded_account_type")
    if flag not in (None, "", 0, "0", False):
        return True
    acct_type = row.get("acct_type_desc")
    return bool(acct_type and excluded_types and str(acct_type).strip() in excluded_types)


def kore_row(entity: Entity, row: dict[str, Any], flavor: str) -> PushRow:
    """A kore_*base row as the flavour's upsert body (see ``naming`` for the rules)."""
    lks = crm_names.lookups(entity)
    lk_cols = {lk.column for lk in lks}
    key = str(row["external_key"])
    body: dict[str, Any] = {}
    parents: list[tuple[str, str]] = []
    if flavor == "dynamics":
        body[crm_names.DYN_NAME] = row.get("name")
    else:
        body[crm_names.SF_NAME] = row.get("name")
        body[crm_names.SF_EXT_KEY] = key
    for col, v in row.items():
        if col in ("external_key", "name") or col in lk_cols or col in crm_names.NOT_SENT or col.startswith("_"):
            continue
        body[crm_names.dyn_attribute(col) if flavor == "dynamics" else crm_names.sf_attribute(col)] = v
    for lk in lks:
        v = row.get(lk.column)
        if v in (None, ""):
            continue
        v = str(v)
        if lk.by_external_key:
            parents.append((lk.target, v))
        if flavor == "dynamics":
            body[crm_names.dyn_lookup(lk.target) + "@odata.bind"] = crm_names.dyn_bind_path(lk.target, v)
        elif lk.by_external_key:
            ext = (
                crm_names.SF_EXT_KEY
                if lk.kind == "prerequisite"
                else crm_names.field_spec(lk.target).external_key_field("salesforce")
            )
            body[crm_names.sf_relationship(lk.target)] = {ext: v}
        else:
            body[crm_names.sf_lookup_field(lk.target)] = v
    h = row.get("row_hash")
    return PushRow(key=key, row_hash=str(h) if h not in (None, "") else payload_hash(body), body=body, parents=parents)


CONTACT_COLUMNS = {  # golden_contacts column -> crm_field_map kore_column (Contact)
    "first_name": "first_name",
    "last_name": "last_name",
    "email": "email",
    "phone": "phone",
    "mobile_phone": "mobile_phone",
    "street": "street",
    "city": "city",
    "state": "state",
    "zip5": "postal_code",
    "postal_code": "postal_code",
    "country": "country",
    "birth_date": "birth_date",
    "primary_acct_id": "archtics_account_id",
    "archtics_account_id": "archtics_account_id",
}
ACCOUNT_COLUMNS = {
    "name": "name",
    "phone": "phone",
    "street": "street",
    "city": "city",
    "state": "state",
    "zip5": "postal_code",
    "postal_code": "postal_code",
    "country": "country",
    "primary_acct_id": "archtics_account_id",
    "archtics_account_id": "archtics_account_id",
}


def _crm_owned_row(
    entity: str, values: dict[str, Any], key: str, crm_id: str | None, flavor: str, row_hash: str | None
) -> PushRow:
    """A contact/account from dedup as the flavour's body (standard fields + the KORE external key)."""
    fmap = crm_names.field_spec(entity).kore_to_field(flavor)
    ext = crm_names.field_spec(entity).external_key_field(flavor) or ""
    body: dict[str, Any] = {fmap[k]: v for k, v in values.items() if k in fmap and fmap[k]}
    body[ext] = key
    parents: list[tuple[str, str]] = []
    account_key = values.get("account_key")
    if entity == "Contact" and account_key:
        parents.append(("Account", str(account_key)))
        acct_ext = crm_names.field_spec("Account").external_key_field(flavor)
        if flavor == "dynamics":
            body["parentcustomerid_account@odata.bind"] = f"/accounts({acct_ext}={crm_names.odata_quote(account_key)})"
        else:
            body["Account"] = {acct_ext: str(account_key)}
    rh = row_hash if row_hash else payload_hash({**body, "_crm_id": crm_id})
    return PushRow(key=key, row_hash=rh, body=body, parents=parents, crm_id=crm_id)


def _display(values: dict[str, Any]) -> dict[str, Any]:
    """Dedup keeps phones as E.164 digits; the CRM shows them with the leading ``+``."""
    for f in ("phone", "mobile_phone"):
        v = values.get(f)
        if isinstance(v, str) and v.isdigit():
            values[f] = "+" + v
    return values


def contact_rows(golden: list[dict[str, Any]], flavor: str) -> list[PushRow]:
    out = []
    for g in golden:
        values = _display({CONTACT_COLUMNS[c]: v for c, v in g.items() if c in CONTACT_COLUMNS and v is not None})
        values["account_key"] = g.get("account_key")
        out.append(
            _crm_owned_row(
                "Contact", values, str(g["contact_key"]), g.get("crm_contact_id") or None, flavor, g.get("row_hash")
            )
        )
    return out


def account_rows(golden: list[dict[str, Any]], accounts: list[dict[str, Any]] | None, flavor: str) -> list[PushRow]:
    """Accounts from ``kore_dedup.golden_accounts`` when it exists, else derived from golden contacts.

    Derivation (dedup's ``account_rule``): a company account is named after the company, a household
    after the family name, a person account after the person.
    """
    out: list[PushRow] = []
    if accounts is not None:
        for a in accounts:
            values = _display({ACCOUNT_COLUMNS[c]: v for c, v in a.items() if c in ACCOUNT_COLUMNS and v is not None})
            out.append(
                _crm_owned_row(
                    "Account", values, str(a["account_key"]), a.get("crm_account_id") or None, flavor, a.get("row_hash")
                )
            )
        return out
    seen: set[str] = set()
    for g in sorted(golden, key=lambda r: (str(r.get("account_key")), str(r.get("contact_key")))):
        key = g.get("account_key")
        if not key or key in seen:
            continue
        seen.add(str(key))
        rule = g.get("account_rule")
        person = " ".join(str(x) for x in (g.get("first_name"), g.get("last_name")) if x)
        if rule == "company" or (rule is None and g.get("company")):
            name = g.get("company") or g.get("last_name") or person
        elif rule == "household":
            name = f"{g.get('last_name')} Household"
        else:
            name = person or g.get("company")
        values = _display({ACCOUNT_COLUMNS[c]: v for c, v in g.items() if c in ACCOUNT_COLUMNS and v is not None})
        values["name"] = str(name)[:160] if name else None
        out.append(_crm_owned_row("Account", values, str(key), None, flavor, None))
    return out


def plan_rows(
    rows: list[PushRow], state: dict[tuple[str, str], dict], entity: str, dry_run_available: set[tuple[str, str]]
) -> tuple[list[PushRow], list[PushRow], list[tuple[PushRow, str]]]:
    """Split rows into (to send, unchanged, waiting for a parent with the reason)."""
    send, unchanged, waiting = [], [], []
    for r in rows:
        st = state.get((entity, r.key))
        if st and st.get("status") == "synced" and st.get("row_hash") == r.row_hash:
            unchanged.append(r)
            continue
        missing = [p for p in r.parents if not (state.get(p) or {}).get("crm_id") and p not in dry_run_available]
        if missing:
            waiting.append((r, f"parent {missing[0][0]} {missing[0][1]} is not in the CRM"))
        else:
            send.append(r)
    return send, unchanged, waiting


# -- senders -------------------------------------------------------------------------------------


def _chunks(seq: list, n: int) -> Iterable[list]:
    for i in range(0, len(seq), n):
        yield seq[i : i + n]


class _Counter:
    def __init__(self) -> None:
        self.n = 0

    def add(self, k: int = 1) -> None:
        self.n += k


def _dyn_error(msg: odata_batch.HttpMessage) -> str:
    try:
        return str(msg.json()["error"]["message"])[:500]
    except Exception:  # noqa: BLE001
        return f"HTTP {msg.status}"


def send_dynamics(
    client: DynamicsClient, target: Target, rows: list[PushRow], requests: _Counter, progress: Callable[[int], None]
) -> dict[str, Outcome]:
    """Upsert rows through ``$batch`` (change sets; failed change sets re-sent request by request)."""
    eset = crm_names.entity_set(target.crm_name)

    def message(i: int, r: PushRow) -> odata_batch.HttpMessage:
        if r.crm_id:  # a preexisting record: update it by id, never create
            return client.upsert_message(eset, None, r.crm_id, r.body, target.id_field, str(i), update_only=True)
        return client.upsert_message(eset, target.ext_field, r.key, r.body, target.id_field, str(i))

    def read(resp: odata_batch.HttpMessage, r: PushRow) -> Outcome:
        if resp.status in (200, 201, 204):
            data = resp.json() or {}
            rid = data.get(target.id_field) or resp.headers.get("odata-entityid", "").rsplit("(", 1)[-1].rstrip(")")
            return Outcome("synced", rid, None, resp.status == 201)
        return Outcome("failed", None, _dyn_error(resp))

    def one_batch(batch: list[PushRow]) -> dict[str, Outcome]:
        out: dict[str, Outcome] = {}
        items: list[odata_batch.HttpMessage | list[odata_batch.HttpMessage]] = [
            [message(i + j, r) for j, r in enumerate(cs)]
            for i, cs in ((k * DYN_CHANGESET_SIZE, c) for k, c in enumerate(_chunks(batch, DYN_CHANGESET_SIZE)))
        ]
        by_cid = {str(i): r for i, r in enumerate(batch)}
        retry: list[tuple[str, PushRow]] = []
        try:
            requests.add()
            responses = client.batch(items)
        except (CrmClientError, OSError, ValueError) as exc:
            err = f"batch failed: {exc}"[:500]
            return {r.key: Outcome("failed", None, err) for r in batch}
        for sent, resp in zip(items, responses, strict=False):
            if isinstance(resp, list):
                for resp_one in resp:
                    r = by_cid[resp_one.content_id or ""]
                    out[r.key] = read(resp_one, r)
            else:  # the change set rolled back: its failing request is known, the rest is re-sent alone
                bad = resp.content_id
                for m in sent if isinstance(sent, list) else [sent]:
                    r = by_cid[m.content_id or ""]
                    if m.content_id == bad:
                        out[r.key] = read(resp, r)
                    else:
                        retry.append((m.content_id or "", r))
        if retry:
            singles = [message(int(cid), r) for cid, r in retry]
            try:
                requests.add()
                responses = client.batch(singles, continue_on_error=True)
                for resp in responses:
                    if isinstance(resp, odata_batch.HttpMessage):
                        r = by_cid[resp.content_id or ""]
                        out[r.key] = read(resp, r)
            except (CrmClientError, OSError, ValueError) as exc:
                for _, r in retry:
                    out[r.key] = Outcome("failed", None, f"batch failed: {exc}"[:500])
        for r in batch:  # a request the CRM did not answer counts as failed (retried next run)
            out.setdefault(r.key, Outcome("failed", None, "no response for this request in the batch"))
        progress(len(batch))
        return out

    return _run_parallel(one_batch, list(_chunks(rows, DYN_BATCH_SIZE)))


def send_salesforce(
    client: SalesforceClient, target: Target, rows: list[PushRow], requests: _Counter, progress: Callable[[int], None]
) -> dict[str, Outcome]:
    """Upsert rows with sObject Collections, 200 a call (by Id for preexisting records)."""

    def one_call(chunk: list[PushRow]) -> dict[str, Outcome]:
        by_id = bool(chunk[0].crm_id)
        ext = "Id" if by_id else target.ext_field
        records = [{**r.body, "Id": r.crm_id} if by_id else r.body for r in chunk]
        try:
            requests.add()
            results = client.upsert_collection(target.crm_name, ext, records)
        except (CrmClientError, OSError, ValueError) as exc:
            err = f"collection failed: {exc}"[:500]
            return {r.key: Outcome("failed", None, err) for r in chunk}
        out: dict[str, Outcome] = {}
        for r, res in zip(chunk, results, strict=False):
            if res.get("success"):
                out[r.key] = Outcome("synced", res.get("id"), None, bool(res.get("created")))
            else:
                errs = res.get("errors") or [{}]
                out[r.key] = Outcome("failed", None, f"{errs[0].get('statusCode')}: {errs[0].get('message')}"[:500])
        for r in chunk:
            out.setdefault(r.key, Outcome("failed", None, "no result for this record"))
        progress(len(chunk))
        return out

    with_id = [r for r in rows if r.crm_id]
    without = [r for r in rows if not r.crm_id]
    chunks = list(_chunks(with_id, SF_COLLECTION_SIZE)) + list(_chunks(without, SF_COLLECTION_SIZE))
    return _run_parallel(one_call, chunks)


def _run_parallel(fn: Callable[[list[PushRow]], dict[str, Outcome]], chunks: list[list[PushRow]]) -> dict:
    out: dict[str, Outcome] = {}
    if not chunks:
        return out
    with ThreadPoolExecutor(max_workers=min(CONCURRENCY, len(chunks)), thread_name_prefix="crm-push") as pool:
        for res in pool.map(fn, chunks):
            out.update(res)
    return out


# -- state ---------------------------------------------------------------------------------------


def load_state(wh: Warehouse, flavor: str) -> dict[tuple[str, str], dict[str, Any]]:
    if not wh.table_exists(STATE_SCHEMA, STATE_TABLE):
        return {}
    df = wh.query_df(f"select * from {STATE_SCHEMA}.{STATE_TABLE} where crm_flavor = ?", [flavor])
    return {(r["entity"], r["external_key"]): r for r in _records(df)}


def ensure_state_table(wh: Warehouse) -> None:
    """Create ``ops.crm_sync_state`` with explicit types (a first batch of all-null errors has none)."""
    if wh.table_exists(STATE_SCHEMA, STATE_TABLE):
        return
    wh.ensure_schema(STATE_SCHEMA)
    text, ts = ("varchar", "timestamp") if wh.target == "duckdb" else ("nvarchar", "datetime2")
    wh.execute(
        f"create table {STATE_SCHEMA}.{STATE_TABLE} (crm_flavor {text}(20), entity {text}(100), "
        f"external_key {text}(200), crm_id {text}(100), row_hash {text}(100), status {text}(20), "
        f"error {text}(1000), attempts integer, last_attempt_at {ts})"
    )


def save_state(wh: Warehouse, flavor: str, entity: str, rows: list[dict[str, Any]]) -> None:
    """Replace one entity's sync state (delete + insert in one transaction)."""
    df = pd.DataFrame(rows, columns=STATE_COLUMNS)
    df["attempts"] = pd.to_numeric(df["attempts"]).fillna(0).astype("int64")
    df["last_attempt_at"] = pd.to_datetime(df["last_attempt_at"]).astype("datetime64[ns]")
    for c in STATE_COLUMNS:
        if c not in ("attempts", "last_attempt_at"):
            df[c] = df[c].astype(object).where(df[c].notna(), None)
    ensure_state_table(wh)
    wh.execute("begin transaction")
    try:
        wh.execute(f"delete from {STATE_SCHEMA}.{STATE_TABLE} where crm_flavor = ? and entity = ?", [flavor, entity])
        wh.append_df(STATE_SCHEMA, STATE_TABLE, df)
        wh.execute("commit")
    except Exception:
        wh.execute("rollback")
        raise


# -- reading sources -----------------------------------------------------------------------------


def _read(wh: Warehouse, schema: str, table: str) -> list[dict[str, Any]] | None:
    if not wh.table_exists(schema, table):
        return None
    return _records(wh.query_df(f"select * from {schema}.{table}"))


def _target(entity: str, flavor: str) -> Target:
    from kore.registry import by_name

    ent = by_name(entity)
    name = crm_names.crm_entity_name(ent, flavor)
    if ent.direction == "crm_to_kore":
        spec = crm_names.field_spec(entity)
        return Target(entity, name, spec.id_field(flavor), spec.external_key_field(flavor) or "")
    if flavor == "dynamics":
        return Target(entity, name, crm_names.dyn_id_field(name), crm_names.DYN_EXT_KEY)
    return Target(entity, name, "Id", crm_names.SF_EXT_KEY)


def _source_rows(
    settings: Settings, wh: Warehouse, entity: str, flavor: str, res: EntityResult, cache: dict[str, Any]
) -> list[PushRow] | None:
    excluded = settings.excluded_account_types
    if entity in ("Account", "Contact"):
        if "golden" not in cache:
            cache["golden"] = _read(wh, DEDUP_SCHEMA, "golden_contacts")
            cache["accounts"] = _read(wh, DEDUP_SCHEMA, "golden_accounts")
        golden = cache["golden"]
        if golden is None:
            res.source = f"{DEDUP_SCHEMA}.golden_contacts (missing)"
            return None
        kept = [g for g in golden if not _excluded(g, excluded)]
        res.excluded = len(golden) - len(kept)
        if entity == "Contact":
            res.source = f"{DEDUP_SCHEMA}.golden_contacts"
            return contact_rows(kept, flavor)
        accounts = cache["accounts"]
        if accounts is not None:
            kept_acc = [a for a in accounts if not _excluded(a, excluded)]
            res.excluded = len(accounts) - len(kept_acc)
            res.source = f"{DEDUP_SCHEMA}.golden_accounts"
            return account_rows(kept, kept_acc, flavor)
        res.source = f"{DEDUP_SCHEMA}.golden_contacts (account_key)"
        return account_rows(kept, None, flavor)
    from kore.registry import by_name

    ent = by_name(entity)
    table = ent.model_name
    rows = _read(wh, "kore", table)
    res.source = f"kore.{table}" + (" (missing)" if rows is None else "")
    if rows is None:
        return None
    kept = [r for r in rows if not _excluded(r, excluded)]
    res.excluded = len(rows) - len(kept)
    keyed = [r for r in kept if r.get("external_key") not in (None, "")]
    res.invalid = len(kept) - len(keyed)  # no key: cannot be upserted (counted, never sent)
    return [kore_row(ent, r, flavor) for r in keyed]


# -- the push ------------------------------------------------------------------------------------


def push(
    settings: Settings,
    base_url: str,
    flavor: str,
    credentials: dict[str, str],
    dry_run: bool = False,
    entities: list[str] | None = None,
) -> dict[str, Any]:
    """Push contacts/accounts and every KORE-owned entity to the CRM (see module docstring)."""
    if flavor not in ("dynamics", "salesforce"):
        raise ValueError(f"flavor must be 'dynamics' or 'salesforce', not {flavor!r}")
    order = ["Account", "Contact"] + [e.entity for e in kore_to_crm(flavor)]
    if entities:
        unknown = set(entities) - set(order)
        if unknown:
            raise ValueError(f"not pushable entities: {sorted(unknown)}")
        order = [e for e in order if e in entities]
    client: DynamicsClient | SalesforceClient | None = None
    if not dry_run:
        client = (
            DynamicsClient(base_url, credentials) if flavor == "dynamics" else SalesforceClient(base_url, credentials)
        )
    results: dict[str, EntityResult] = {}
    cache: dict[str, Any] = {}
    would_exist: set[tuple[str, str]] = set()  # dry run: parents this run would create
    t_all = time.perf_counter()
    with run_record(settings, "crm_push", f"{flavor}{' (dry run)' if dry_run else ''}") as total_rec:
        # One warehouse connection for the stage: sources are read and sync state written per entity.
        with connect(settings) as wh, Progress(console=console, transient=True) as progress:
            state = load_state(wh, flavor)
            task = progress.add_task(f"CRM push ({flavor})", total=len(order))
            records: list[RunRecord] = []
            try:
                for entity in order:
                    rec = RunRecord(stage="crm_push", entity=entity, started_at=_now_iso())
                    res = _push_entity(
                        wh, settings, entity, flavor, client, state, cache, dry_run, would_exist, progress
                    )
                    results[entity] = res
                    progress.advance(task)
                    records.append(_entity_record(rec, res, dry_run))
            finally:
                write_records(settings, records, wh)
        summary = _summary(flavor, dry_run, results, time.perf_counter() - t_all)
        total_rec.rows_in = summary["rows"]
        total_rec.rows_out = summary["synced"]
        total_rec.rows_failed = summary["failed"]
        total_rec.detail = {k: v for k, v in summary.items() if k != "entities"} | {
            "entities": {
                k: {kk: v[kk] for kk in ("rows", "sent", "unchanged", "failed")} for k, v in summary["entities"].items()
            }
        }
        if dry_run:
            total_rec.outcome = "dry_run"
        elif summary["failed"]:
            total_rec.outcome = "partial"
    if dry_run:
        _print_dry_run(summary)
    return summary


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _entity_record(rec: RunRecord, res: EntityResult, dry_run: bool) -> RunRecord:
    """The run record of one entity (rows read/sent/created/updated/failed, duration, outcome)."""
    rec.finished_at = _now_iso()
    rec.seconds = res.seconds
    rec.rows_in = res.rows
    rec.rows_out = res.created + res.updated
    rec.rows_failed = res.failed
    rec.detail = {k: v for k, v in res.__dict__.items() if k != "rows"} | {"dry_run": dry_run}
    if dry_run:
        rec.outcome = "dry_run"
    elif res.source.endswith("(missing)"):
        rec.outcome = "skipped: source table missing"
    else:
        rec.outcome = "partial" if res.failed else "success"
    return rec


def _push_entity(
    wh: Warehouse,
    settings: Settings,
    entity: str,
    flavor: str,
    client: DynamicsClient | SalesforceClient | None,
    state: dict[tuple[str, str], dict[str, Any]],
    cache: dict[str, Any],
    dry_run: bool,
    would_exist: set[tuple[str, str]],
    progress: Progress,
) -> EntityResult:
    res = EntityResult()
    t0 = time.perf_counter()
    rows = _source_rows(settings, wh, entity, flavor, res, cache)
    if rows is None:
        return res
    dedup: dict[str, PushRow] = {}
    for r in rows:
        dedup[r.key] = r
    res.invalid += len(rows) - len(dedup)  # duplicate external keys: the last row wins
    rows = list(dedup.values())
    res.rows = len(rows)
    send, unchanged, waiting = plan_rows(rows, state, entity, would_exist if dry_run else set())
    res.unchanged, res.waiting_parent = len(unchanged), len(waiting)
    if dry_run:
        res.created = sum(1 for r in send if not (state.get((entity, r.key)) or {}).get("crm_id") and not r.crm_id)
        res.updated = len(send) - res.created
        would_exist.update((entity, r.key) for r in send)
        would_exist.update((entity, r.key) for r in unchanged)
        res.seconds = round(time.perf_counter() - t0, 3)
        return res
    target = _target(entity, flavor)
    counter = _Counter()
    task = progress.add_task(f"  {entity}", total=len(send))

    def tick(n: int) -> None:
        progress.advance(task, n)

    if isinstance(client, DynamicsClient):
        outcomes = send_dynamics(client, target, send, counter, tick)
    else:
        outcomes = send_salesforce(client, target, send, counter, tick)  # type: ignore[arg-type]
    progress.remove_task(task)
    res.requests = counter.n
    now = datetime.now(UTC).replace(tzinfo=None)
    for r in send:
        o = outcomes[r.key]
        prev = state.get((entity, r.key)) or {}
        attempts = int(prev.get("attempts") or 0) + 1 if prev.get("row_hash") == r.row_hash else 1
        state[(entity, r.key)] = {
            "crm_flavor": flavor,
            "entity": entity,
            "external_key": r.key,
            "crm_id": o.crm_id or prev.get("crm_id") or r.crm_id,
            "row_hash": r.row_hash,
            "status": o.status,
            "error": o.error,
            "attempts": attempts if o.status == "failed" else 0,
            "last_attempt_at": now,
        }
        res.sent += 1
        if o.status == "synced":
            res.created += int(o.created)
            res.updated += int(not o.created)
        else:
            res.failed += 1
            code = (o.error or "").split(":")[0][:60]
            res.errors[code] = res.errors.get(code, 0) + 1
    for r, why in waiting:
        prev = state.get((entity, r.key)) or {}
        state[(entity, r.key)] = {
            "crm_flavor": flavor,
            "entity": entity,
            "external_key": r.key,
            "crm_id": prev.get("crm_id") or r.crm_id,
            "row_hash": r.row_hash,
            "status": "waiting_parent",
            "error": why,
            "attempts": int(prev.get("attempts") or 0),
            "last_attempt_at": prev.get("last_attempt_at"),
        }
    if send or waiting:
        save_state(wh, flavor, entity, [v for (e, _), v in state.items() if e == entity])
    res.seconds = round(time.perf_counter() - t0, 3)
    return res


def _summary(flavor: str, dry_run: bool, results: dict[str, EntityResult], seconds: float) -> dict[str, Any]:
    ents = {k: {kk: vv for kk, vv in v.__dict__.items()} for k, v in results.items()}
    return {
        "flavor": flavor,
        "dry_run": dry_run,
        "entities": ents,
        "rows": sum(r.rows for r in results.values()),
        "sent": sum(r.sent for r in results.values()),
        "created": sum(r.created for r in results.values()),
        "updated": sum(r.updated for r in results.values()),
        "synced": sum(r.created + r.updated for r in results.values()),
        "unchanged": sum(r.unchanged for r in results.values()),
        "failed": sum(r.failed for r in results.values()),
        "waiting_parent": sum(r.waiting_parent for r in results.values()),
        "excluded": sum(r.excluded for r in results.values()),
        "requests": sum(r.requests for r in results.values()),
        "seconds": round(seconds, 3),
    }


def _print_dry_run(summary: dict[str, Any]) -> None:
    t = Table(title=f"CRM push dry run ({summary['flavor']}): nothing was sent")
    for col in ("entity", "source", "create", "update", "unchanged", "waiting parent", "excluded"):
        t.add_column(col)
    for name, r in summary["entities"].items():
        t.add_row(
            name,
            r["source"],
            str(r["created"]),
            str(r["updated"]),
            str(r["unchanged"]),
            str(r["waiting_parent"]),
            str(r["excluded"]),
        )
    console.print(t)
