"""Sample Archtics export generator: the static export, its ground truth, CRM seed and live changes.

``generate(accounts, out_dir, seed)`` writes, deterministically for a seed:

* ``out_dir/`` — the static export as ``docs/architecture.md`` ("Export format") describes it:
  ``manifest.json`` + ``<dataset>/<dataset>-part-NNNN.csv.gz`` for cust, cust_address, cust_email,
  cust_rep, ticket, evnt, events_in_plan, season, note. Every row's change time is strictly before
  the cutoff (child lists: their account's / plan's change time).
* ``sandbox_dir/ground_truth.csv`` — ``record_id`` (``A:<acct_id>:<cust_name_id>`` or
  ``C:<crm_id>``), ``source`` (archtics|crm), ``person_id``, ``household_id``, ``scenario``,
  ``origin`` (export|live). Pipelines never read it; dedup quality is measured against it.
* ``sandbox_dir/crm_seed/`` — preexisting CRM data (see :mod:`sandbox.crm_seed` for the format).
* ``sandbox_dir/archtics_live/`` — rows changed at or after the cutoff, served by the sandbox
  Archtics API (see :mod:`sandbox.live_changes` for the format).

Why this shape: the pipelines must cope with what real exports contain (many part files, a cutoff,
people with several accounts and accounts with several names), and the tests need to know the truth.
Speed: numpy for the population, Faker only for value pools, pyarrow's CSV writer; tickets are
generated per chunk of accounts so memory stays flat at a million accounts.
"""

from __future__ import annotations

import csv
import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from rich.progress import Progress

from kore.contracts.archtics import DATASETS, TS_FORMAT, merge_note_text
from sandbox import crm_seed, live_changes
from sandbox.account_names import NameRows
from sandbox.archtics_rows import (
    USERS,
    address_columns,
    cust_columns,
    email_columns,
    name_timestamps,
    note_columns,
    rep_columns,
)
from sandbox.csv_parts import PartWriter, as_text_table
from sandbox.people import build_pools
from sandbox.plan_renewals import renew_plans
from sandbox.population import Population, build_population
from sandbox.season_calendar import Calendar, build_calendar
from sandbox.text_values import epoch
from sandbox.ticketing import SeatAllocator, TicketBatch, generate_orders, ticket_columns

DEFAULT_CUTOFF = "2026-10-01 12:00:01"
NAME_CHUNK = 100_000  # name rows per chunk (cust + child lists)
ACCOUNT_CHUNK = 25_000  # accounts per ticket chunk
TICKET_ORDER_ROWS = 1.6  # mean ticket rows per order (see ticketing.generate_orders)
NOTE_ID_START = 40_000_001


def _table(dataset: str, cols: dict[str, object]) -> pa.Table:
    n = len(next(iter(v for v in cols.values() if v is not None)))
    return as_text_table(cols, DATASETS[dataset].columns, n)


def ground_truth_rows(pop: Population, nm: NameRows, origin: str = "export") -> list[tuple]:
    """Ground-truth rows (record_id, source, person_id, household_id, scenario, origin) of name rows."""
    hh = pop.persons.household
    return [
        (f"A:{a}:{c}", "archtics", f"P{p}" if p >= 0 else f"CO{ci}", f"H{hh[p]}" if p >= 0 else "", sc, origin)
        for a, c, p, ci, sc in zip(
            pop.acct_id[nm.acct], nm.cust_name_id, nm.person, nm.company_idx, nm.scenario, strict=True
        )
    ]


def _malformed_lines(dataset: str, n: int) -> tuple[str, ...]:
    """Broken CSV lines of the kinds real Archtics exports carry, alternating two defects."""
    if n <= 0 or dataset not in ("cust", "ticket"):
        return ()
    ncols = len(DATASETS[dataset].columns)
    lines = []
    for i in range(n):
        if i % 2 == 0:  # a line cut short: wrong field count
            lines.append(f"{9_900_000 + i},truncated")
        else:  # the right shape, but acct_id is not a number
            lines.append(f"ACCT-{i}" + "," * (ncols - 1))
    return tuple(lines)


def generate(
    accounts: int,
    out_dir: Path,
    seed: int = 42,
    sandbox_dir: Path | None = None,
    *,
    cutoff: str = DEFAULT_CUTOFF,
    part_rows: int = 200_000,
    tickets_per_account: float = 10.0,
    change_rate: float = 0.015,
    crm_share: float = 0.2,
    show_progress: bool = True,
    malformed_rows: int = 0,
) -> dict:
    """Generate the sample export and sandbox data; returns counts per dataset for the run record.

    ``malformed_rows`` > 0 appends that many broken lines (wrong field count, non-numeric acct_id)
    to the first part of cust and of ticket, as a real export has; they are not in the ground truth.

    The steps run in a fixed order, each with its own random generator (``[seed, k]``) or the shared
    one in sequence, so the output for a seed never changes."""
    t0 = time.perf_counter()
    out_dir, sandbox_dir = Path(out_dir), Path(sandbox_dir) if sandbox_dir else Path(out_dir).parent / "sandbox"
    out_dir.mkdir(parents=True, exist_ok=True)
    sandbox_dir.mkdir(parents=True, exist_ok=True)
    _clear_previous_export(out_dir)
    cut = epoch(cutoff)
    rng = np.random.default_rng(seed)
    pools = build_pools(seed, n_companies=max(50, accounts // 20))
    pop = build_population(rng, pools, accounts, cut)
    cal = build_calendar(rng, cut)
    plan = live_changes.plan_changes(pop, rng, change_rate)
    ex = _ExportFiles(out_dir, part_rows, malformed_rows)
    lam = tickets_per_account / TICKET_ORDER_ROWS

    with (
        Progress(disable=not show_progress, transient=True) as progress,
        open(sandbox_dir / "ground_truth.csv", "w", newline="") as gt_file,
    ):
        task = progress.add_task("sample export", total=10)
        gt = csv.writer(gt_file)
        gt.writerow(["record_id", "source", "person_id", "household_id", "scenario", "origin"])
        nrng = np.random.default_rng([seed, 1])
        names = _write_names(ex, pop, plan, nrng, cut, gt)
        progress.advance(task, 3)
        _write_reps(ex, pop, nrng)
        progress.advance(task)
        _write_events(ex, cal)
        progress.advance(task)
        n_notes = _write_notes(ex, pop, nrng, cut)
        progress.advance(task)
        trngs = (np.random.default_rng([seed, 2]), np.random.default_rng([seed, 5]))
        tickets = _write_tickets(ex, pop, cal, plan, trngs, cut, lam, progress)
        progress.advance(task)
        _write_manifest(ex, cutoff, seed, accounts)
        crm, live = _write_sandbox_data(
            sandbox_dir, seed, cut, crm_share, lam, pop, cal, plan, names, tickets, n_notes, gt
        )
        progress.advance(task)

    ground_truth = names.ground_truth_rows + len(crm.ground_truth) + len(live.ground_truth)
    return {
        "accounts": int(accounts),
        "cutoff": cutoff,
        "seed": seed,
        "rows": ex.counts,
        "rows_total": int(sum(ex.counts.values())),
        "files": len(ex.files),
        "bytes": int(sum(f["bytes"] for f in ex.files)),
        "ground_truth_rows": ground_truth,
        "crm_seed": crm.counts,
        "live_changes": live.counts,
        "seconds": round(time.perf_counter() - t0, 2),
    }


def _write_sandbox_data(
    sandbox_dir: Path,
    seed: int,
    cut: int,
    crm_share: float,
    lam: float,
    pop: Population,
    cal: Calendar,
    plan: live_changes.ChangePlan,
    names: _Names,
    tickets: _Tickets,
    n_notes: int,
    gt,
) -> tuple[crm_seed.CrmSeed, live_changes.LiveResult]:
    """The sandbox-only data: the preexisting CRM data, then the changes after the cutoff (and their truth)."""
    crm = crm_seed.write_crm_seed(pop, sandbox_dir / "crm_seed", np.random.default_rng([seed, 3]), cut, crm_share)
    gt.writerows(crm.ground_truth)
    live = live_changes.write_live_changes(
        pop,
        cal,
        plan,
        TicketBatch.concat(tickets.watched) if tickets.watched else None,
        tickets.seats,
        sandbox_dir / "archtics_live",
        np.random.default_rng([seed, 4]),
        cut,
        ids={
            "address": names.next_addr_id,
            "email": names.next_email_id,
            "note": NOTE_ID_START + n_notes + 1_000,
            "order": tickets.next_order_no,
        },
        lam=lam,
        export=names.export_subset,
    )
    gt.writerows(live.ground_truth)
    return crm, live


@dataclass
class _ExportFiles:
    """The export being written: where, how big a part is, and the files and row counts so far."""

    out_dir: Path
    part_rows: int
    malformed_rows: int
    files: list[dict] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)

    def writer(self, dataset: str) -> PartWriter:
        return PartWriter(
            self.out_dir,
            dataset,
            DATASETS[dataset].columns,
            self.part_rows,
            malformed=_malformed_lines(dataset, self.malformed_rows),
        )

    def close(self, dataset: str, w: PartWriter) -> None:
        self.files += w.close()
        self.counts[dataset] = sum(f["rows"] for f in w.files)

    def write(self, dataset: str, tables: list[pa.Table]) -> None:
        w = self.writer(dataset)
        for t in tables:
            w.add(t)
        self.close(dataset, w)


@dataclass
class _Names:
    """What the name datasets leave for the live changes: next free ids and the watched accounts' rows."""

    next_addr_id: int
    next_email_id: int
    export_subset: dict[str, pa.Table]
    ground_truth_rows: int


def _write_names(
    ex: _ExportFiles, pop: Population, plan: live_changes.ChangePlan, nrng: np.random.Generator, cut: int, gt
) -> _Names:
    """cust and its child lists, per chunk of names (keeps Python objects few), and their ground truth."""
    writers = {d: ex.writer(d) for d in ("cust", "cust_address", "cust_email")}
    watch = pa.array([str(a) for a in plan.watch_cust_acct_ids])
    kept: dict[str, list[pa.Table]] = {d: [] for d in writers}
    next_addr_id, next_email_id = 20_000_001, 30_000_001
    gt_rows = 0
    for s in range(0, len(pop.names), NAME_CHUNK):
        rows = pop.names.slice(s, s + NAME_CHUNK)
        add, upd = name_timestamps(pop, rows, nrng, cut)
        cust = cust_columns(pop, rows, add, upd, nrng)
        tables = {"cust": _table("cust", cust)}
        cust["acct_id"] = tables["cust"].column("acct_id").combine_chunks()
        addr, next_addr_id = address_columns(pop, rows, cust, nrng, next_addr_id)
        tables["cust_address"] = _table("cust_address", addr)
        em, next_email_id = email_columns(rows, cust, nrng, next_email_id)
        tables["cust_email"] = _table("cust_email", em)
        for d, t in tables.items():
            writers[d].add(t)
            kept[d].append(t.filter(pc.is_in(t.column("acct_id"), value_set=watch)))
        batch = ground_truth_rows(pop, rows)
        gt.writerows(batch)
        gt_rows += len(batch)
        del cust, addr, em, tables
    for d, w in writers.items():
        ex.close(d, w)
    export_subset = {d: pa.concat_tables(t) for d, t in kept.items()}
    return _Names(next_addr_id, next_email_id, export_subset, gt_rows)


def _write_reps(ex: _ExportFiles, pop: Population, nrng: np.random.Generator) -> None:
    """cust_rep: every account's sales rep, and for some a second (service) rep."""
    has_rep = np.flatnonzero(pop.acct_rep >= 0)
    svc = has_rep[nrng.random(len(has_rep)) < 0.3]
    svc_rep = pop.rep_accounts[(np.searchsorted(pop.rep_accounts, pop.acct_rep[svc]) + 1) % len(pop.rep_accounts)]
    r_acct = np.concatenate([has_rep, svc])
    r_rep = np.concatenate([pop.acct_rep[has_rep], svc_rep])
    r_type = np.concatenate([np.full(len(has_rep), "S", dtype=object), np.full(len(svc), "C", dtype=object)])
    o = np.lexsort((r_type, r_acct))
    ex.write("cust_rep", [_table("cust_rep", rep_columns(pop, r_acct[o], r_rep[o], r_type[o]))])


def _write_events(ex: _ExportFiles, cal: Calendar) -> None:
    """The reference data: events, the events in each plan, seasons."""
    ex.write("evnt", [_table("evnt", cal.evnt)])
    ex.write("events_in_plan", [_table("events_in_plan", cal.events_in_plan)])
    ex.write("season", [_table("season", cal.season)])


def _write_notes(ex: _ExportFiles, pop: Population, nrng: np.random.Generator, cut: int) -> int:
    """Notes, among them merges long before the export (the old account no longer exists).

    Returns how many note ids were used."""
    not_rep = np.flatnonzero(pop.acct_kind != "rep")
    n_notes = nrng.poisson(0.4, len(not_rep))
    na = np.repeat(not_rep, n_notes)
    nts = pop.acct_add[na] + ((cut - 1 - pop.acct_add[na]) * nrng.random(len(na))).astype(np.int64)
    note_ids = NOTE_ID_START + np.arange(len(na))
    notes = [_table("note", note_columns(pop.acct_id[na], note_ids, nts, nrng, max_ts=cut - 1))]
    ind = np.flatnonzero(pop.acct_kind == "ind")
    into = np.sort(nrng.choice(ind, min(len(ind), max(3, len(ind) // 300)), replace=False))
    gone = pop.acct_id[into] - 1
    keep = ~np.isin(gone, pop.acct_id)
    into, gone = into[keep], gone[keep]
    if len(into):
        mts = pop.acct_upd[into]
        texts = np.array([merge_note_text(o, n) for o, n in zip(gone, pop.acct_id[into], strict=True)], dtype=object)
        mids = note_ids[-1] + 1 + np.arange(len(into)) if len(na) else NOTE_ID_START + np.arange(len(into))
        notes.append(_table("note", note_columns(pop.acct_id[into], mids, mts, nrng, texts=texts, max_ts=cut - 1)))
    ex.write("note", notes)
    return len(na) + len(into)


@dataclass
class _Tickets:
    """What the ticket export leaves for the live changes."""

    seats: SeatAllocator  # seats taken so far
    watched: list[TicketBatch]  # tickets of the accounts the live changes touch
    next_order_no: int


def _write_tickets(
    ex: _ExportFiles,
    pop: Population,
    cal: Calendar,
    plan: live_changes.ChangePlan,
    trngs: tuple[np.random.Generator, np.random.Generator],
    cut: int,
    lam: float,
    progress: Progress,
) -> _Tickets:
    """ticket, per chunk of accounts (memory stays flat at a million accounts): each chunk's orders
    (``trngs[0]``), then the renewals of its plan holders season after season (``trngs[1]``)."""
    trng, rrng = trngs
    seats = SeatAllocator(n_spaces=1 + len(cal.plan_id))
    buyers = np.flatnonzero(pop.acct_kind != "rep")
    rep_acct_id = np.where(pop.acct_rep >= 0, pop.acct_id[np.maximum(pop.acct_rep, 0)], -1)
    is_comp = pop.acct_type == "Comp"
    tw = ex.writer("ticket")
    watched: list[TicketBatch] = []
    order_no = 60_000_001
    chunk = ACCOUNT_CHUNK
    ttask = progress.add_task("tickets", total=len(buyers))
    for s in range(0, len(buyers), chunk):
        a = buyers[s : s + chunk]
        b = generate_orders(
            trng, cal, seats, pop.acct_id[a], pop.acct_add[a], rep_acct_id[a], is_comp[a], lam, order_no, 0, cut - 1
        )
        order_no += int(b.order_num.max() - order_no + 1) if len(b) else 0
        renewed = renew_plans(rrng, cal, seats, b, order_no, cut - 1)
        order_no += len(renewed)
        b = TicketBatch.concat([b, renewed])
        tw.add(_table("ticket", ticket_columns(b, cal, USERS)))
        w = np.isin(b.acct_id, plan.watch_acct_ids)
        if w.any():
            watched.append(b.take(np.flatnonzero(w)))
        progress.advance(ttask, len(a))
    ex.close("ticket", tw)
    return _Tickets(seats, watched, order_no)


def _write_manifest(ex: _ExportFiles, cutoff: str, seed: int, accounts: int) -> None:
    """The manifest is the commit marker: written last, atomically."""
    manifest = {
        "format_version": 1,
        "source": "archtics",
        "cutoff": cutoff,
        "generated_at": datetime.now(UTC).strftime(TS_FORMAT),
        "seed": seed,
        "accounts": accounts,
        "files": ex.files,
    }
    tmp = ex.out_dir / "manifest.json.tmp"
    tmp.write_text(json.dumps(manifest, indent=1))
    tmp.replace(ex.out_dir / "manifest.json")


def _clear_previous_export(out_dir: Path) -> None:
    """Remove an earlier run's manifest and part files, so a crashed or smaller re-run leaves no strays."""
    (out_dir / "manifest.json").unlink(missing_ok=True)
    for d in DATASETS:
        for f in (out_dir / d).glob(f"{d}-part-*.csv.gz"):
            f.unlink()
