"""Push KORE-owned data to the CRM: contacts/accounts from dedup, then every KORE entity in order.

Order and prerequisites: accounts, then contacts (from ``kore_dedup.golden_contacts``), then the
registry's KORE-owned entities in push order (``kore.registry.kore_to_crm(flavor)``). Entities run
one after another, so every parent entity has finished before a child entity starts; a child row
whose parent is not in the CRM (failed, waiting, or missing) is not sent and waits
(``waiting_parent``) until a later run has pushed the parent. Parents are referenced by their KORE
external key, so the CRM resolves them itself.

What is sent: only rows whose ``row_hash`` (of the content sent, never of the CRM id the row got
back) differs from the last successful push, that now point at another CRM record, or that failed
or waited last time. Rows with a value longer than its CRM field (``kore.contracts.field_limits``)
are held (``held_too_long``), not sent; their children wait. A parent counts as in the CRM once a
push put it there under KORE's key. Each row's outcome goes to ``ops.crm_sync_state``
(``reverse_etl.sync_state``), a batch at a time: each batch reads the state of its own rows and
their parents, and writes what it changed once it is sent.
Writes are upserts by external key, so repeating a request after a timeout never creates a duplicate.

The modules: ``sources`` reads the rows, ``payloads`` turns them into upsert bodies and plans what
to send, the flavour's client (``crm_clients``) sends them in batches (Salesforce sObject
Collections of 200; Dynamics ``$batch`` of up to 1,000 in change sets, a failed change set re-sent
request by request) from a few threads, retrying throttled requests after ``Retry-After``;
``results`` reports. This module runs the entities in order, each entity's rows a batch at a time
(``sources.BATCH_ROWS``), with the sync state of that batch only: memory stays bounded whatever the
number of contacts, accounts or ticket rows.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from rich.progress import Progress, TaskID

from crm_clients import CrmClient, make_client
from crm_clients.http import RetryPolicy, set_run_policy
from kore.config import Settings
from kore.contracts.field_limits import FieldLimits
from kore.registry import Entity, by_name, kore_to_crm
from kore.runlog import RunRecord, run_record, write_records
from kore.warehouse import Warehouse, connect
from reverse_etl import results, retractions
from reverse_etl.payloads import PushRow, plan_rows
from reverse_etl.removed import Removed, load_removed, withhold, write_review_requests
from reverse_etl.results import EntityResult
from reverse_etl.sources import Sources
from reverse_etl.sync_state import (
    HELD_TOO_LONG,
    State,
    drop_scratch,
    read_state,
    record_sent,
    record_waiting,
    save_rows,
)

CRM_OWNED_FIRST = ("Account", "Contact")  # from dedup, before any KORE entity references them


@dataclass
class PushRun:
    """What every entity of one push shares: the connection, the client, the sources."""

    wh: Warehouse
    client: CrmClient
    sources: Sources
    dry_run: bool
    progress: Progress
    settings: Settings | None = None
    removed: Removed = field(default_factory=Removed)  # contacts/accounts deleted or inactive in the CRM
    preexisting: set[str] | None = None  # CRM ids the CRM had before KORE (ops.crm_baseline)
    would_exist: set[tuple[str, str]] = field(default_factory=set)  # dry run: rows this run would create
    limits: FieldLimits | None = None  # the CRM's field lengths (metadata where the client has it)

    @property
    def flavor(self) -> str:
        return self.client.flavor


def push_order(flavor: str, entities: list[str] | None = None) -> list[Entity]:
    """Accounts, contacts, then the KORE-owned entities in the flavour's push order; only
    ``entities`` (registry names) when given."""
    order = [by_name(e) for e in CRM_OWNED_FIRST] + kore_to_crm(flavor)
    if entities:
        unknown = set(entities) - {e.entity for e in order}
        if unknown:
            raise ValueError(f"not pushable entities: {sorted(unknown)}")
        order = [e for e in order if e.entity in entities]
    return order


def push(
    settings: Settings,
    base_url: str,
    flavor: str,
    credentials: dict[str, str],
    dry_run: bool = False,
    entities: list[str] | None = None,
) -> dict[str, Any]:
    """Push contacts/accounts and every KORE-owned entity to the CRM (see module docstring).

    The run record is opened first, so a push that fails while setting up its client (a wrong URL,
    refused credentials) is in the run history too."""
    entity_results: dict[str, EntityResult] = {}
    t_all = time.perf_counter()
    with run_record(settings, "crm_push", f"{flavor}{' (dry run)' if dry_run else ''}") as total_rec:
        # one retry policy for every session of this push: the run deadline is the push's
        set_run_policy(
            RetryPolicy.with_deadlines(
                settings.http_call_deadline, settings.http_run_deadline, timeout=settings.crm_timeout
            )
        )
        client = make_client(flavor, base_url, credentials, settings.crm_timeout)
        order = push_order(flavor, entities)
        if not dry_run:
            client.open()
        # One warehouse connection for the stage: sources are read and sync state written per batch.
        with connect(settings) as wh, Progress(console=results.console, transient=True) as progress:
            run = PushRun(wh, client, Sources(settings, wh, client), dry_run, progress)
            run.settings, run.removed = settings, load_removed(wh, flavor)
            run.preexisting = retractions.preexisting_ids(wh, flavor)
            run.limits = field_limits_of(client)
            task = progress.add_task(f"CRM push ({flavor})", total=len(order))
            records: list[RunRecord] = []
            try:
                for entity in order:
                    rec = RunRecord(stage="crm_push", entity=entity.entity, started_at=results.now_iso())
                    res = _push_entity(run, entity)
                    entity_results[entity.entity] = res
                    progress.advance(task)
                    records.append(results.entity_record(rec, res, dry_run))
            finally:
                drop_scratch(wh)
                write_records(settings, records, wh)
        summary = results.summary(flavor, dry_run, entity_results, time.perf_counter() - t_all)
        results.total_record(total_rec, summary)
    if dry_run:
        results.print_dry_run(summary)
    return summary


def field_limits_of(client: CrmClient) -> FieldLimits:
    """The flavour's static limits, overridden by the org's metadata when the client reads it
    (a client may offer ``field_max_lengths() -> {crm table: {field: max length}}``)."""
    read = getattr(client, "field_max_lengths", None)
    return FieldLimits(client.flavor, read() if callable(read) else {})


def hold_too_long(
    rows: list[PushRow], entity: str, limits: FieldLimits | None
) -> tuple[list[PushRow], list[tuple[PushRow, str]]]:
    """Split rows into (within the CRM's field lengths, held with the reason): a held row is not
    sent (it would fail on every push) and its children wait for it; ``kore check`` flags it."""
    if limits is None:
        return rows, []
    ok, held = [], []
    for r in rows:
        bad = limits.violations(entity, r.body)
        if bad:
            held.append((r, "value longer than the CRM field: " + "; ".join(bad)))
        else:
            ok.append(r)
    return ok, held


def _push_entity(run: PushRun, entity: Entity) -> EntityResult:
    """Read, plan and send one entity's rows, a batch at a time (``Sources.batches``); each batch's
    outcomes are written to the sync state once it is sent, then the retractions are planned."""
    res = EntityResult()
    t0 = time.perf_counter()
    batches = run.sources.batches(entity, res)
    if batches is None:
        return res
    name = entity.entity
    rows_seen = 0
    withheld: list[PushRow] = []
    # the retraction guard's count, before this push changes the state
    synced_before = retractions.synced_rows(run.wh, run.flavor, name)
    retractions.start_current(run.wh)
    task = run.progress.add_task(f"  {name}", total=0)  # one bar for the entity, grown batch by batch
    for rows in batches:
        unique = {r.key: r for r in rows}
        res.invalid += len(rows) - len(unique)  # duplicate external keys (one batch): the last row wins
        rows_seen += len(unique)  # a key is in one batch only (``Sources.batches``)
        retractions.add_current(run.wh, unique)
        state = read_state(
            run.wh, run.flavor, {(name, k) for k in unique} | {p for r in unique.values() for p in r.parents}
        )
        kept, held = withhold(name, list(unique.values()), state, run.removed)
        withheld += held
        run.progress.update(task, total=rows_seen)
        _push_batch(run, entity, kept, state, res, task)
        if not run.dry_run:
            save_rows(run.wh, run.flavor, state)
        run.progress.update(task, completed=rows_seen)
    run.progress.remove_task(task)
    res.rows, res.withheld = rows_seen, len(withheld)
    gone = retractions.gone_rows(run.wh, run.flavor, name)
    retraction = retractions.plan(
        name, gone, retractions.policy(run.settings, name), run.preexisting, run.removed.ids, synced=synced_before
    )
    res.retraction_note = retraction.held
    if run.dry_run:
        res.retracted = len(retraction.rows)
    else:
        res.retracted, res.retract_failed = retractions.withdraw(
            run.client, run.client.target(entity), retraction.rows, gone, run.flavor
        )
        save_rows(run.wh, run.flavor, gone)
        if withheld:
            write_review_requests(run.wh, run.flavor, name, withheld)
    res.seconds = round(time.perf_counter() - t0, 3)
    return res


def _push_batch(
    run: PushRun, entity: Entity, kept: list[PushRow], state: State, res: EntityResult, task: TaskID
) -> None:
    """Plan and send one batch of rows (counted into ``res``; outcomes into ``state``)."""
    name = entity.entity
    send, unchanged, waiting = plan_rows(kept, state, name, run.would_exist)
    send, too_long = hold_too_long(send, name, run.limits)
    res.unchanged += len(unchanged)
    res.waiting_parent += len(waiting)
    res.held_too_long += len(too_long)
    if run.dry_run:
        created = sum(1 for r in send if not (state.get((name, r.key)) or {}).get("crm_id") and not r.crm_id)
        res.created += created
        res.updated += len(send) - created
        run.would_exist.update((name, r.key) for r in send + unchanged)
        return
    retractions.reactivate(send, state, name, run.flavor)
    _send(run, entity, send, state, res, task)
    for r, why in waiting:
        record_waiting(state, run.flavor, name, r, why)
    for r, why in too_long:
        record_waiting(state, run.flavor, name, r, why, status=HELD_TOO_LONG)


def _send(run: PushRun, entity: Entity, send: list[PushRow], state: State, res: EntityResult, task: TaskID) -> None:
    """Upsert the rows to send and count their outcomes into ``res`` and the sync state."""
    upserted = run.client.upsert(run.client.target(entity), send, lambda n: run.progress.advance(task, n))
    res.requests += upserted.requests
    now = datetime.now(UTC).replace(tzinfo=None)
    for r in send:
        o = upserted.outcomes[r.key]
        record_sent(state, run.flavor, entity.entity, r, o, now)
        res.sent += 1
        if o.status == "synced":
            res.created += int(o.created)
            res.updated += int(not o.created)
        else:
            res.failed += 1
            code = (o.error or "").split(":")[0][:60]
            res.errors[code] = res.errors.get(code, 0) + 1
