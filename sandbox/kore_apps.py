"""Sandbox stand-in for the KORE apps' own database (Sponsorship, Suites & Premium, Ticketing).

The KORE apps are the source of truth for the ``kore_to_crm`` entities of the registry: deal sheets,
inventory, premium deals, touchpoints... This module writes what their database export would look
like, so the landing pipeline, the ``kore_*base`` models and the CRM push have realistic input:

- one JSONL file per entity, ``<out_dir>/<entity_snake>.jsonl`` (``DealSheet`` -> ``deal_sheet``),
  one JSON object per line, plus ``manifest.json`` (as_of, generation, per-file rows and sha256);
- every row has ``id`` (the app's integer identity, unique per entity), ``name``, ``created_at``,
  ``modified_at`` (``YYYY-MM-DD HH:MM:SS``, strictly before ``as_of``), one ``<parent_snake>_id`` per
  registry prerequisite the entity has (a foreign key to that entity's ``id``), then attributes.
  Date/time columns end in ``_date`` or ``_at`` and are text, so no reader guesses their type.
- CRM references are held as the KORE app holds them: contacts/accounts by the Archtics account id
  (``acct_id``, the ticketing account the deal or touchpoint is for; the dedup mapping
  ``kore_dedup.account_contact_map`` turns it into the CRM contact/account keys downstream), and
  CRM users (deal owners, goal owners) by the user's e-mail (``owner_user_email``); the
  ``kore_*base`` models turn it into the user's CRM id through ``kore.SyncedUsers``.

:func:`generate` writes a first snapshot; :func:`mutate` moves the app forward in time (edits some
rows, moving their ``modified_at``, and adds new deals/touchpoints), so incremental landing and
"only changed rows are pushed" can be exercised. Both are deterministic for a given seed.

The table layout is the contract ``kore.contracts.kore_apps.SPEC``. The rows are made by
:mod:`sandbox.kore_app_tables` (the tables in memory), :mod:`sandbox.kore_app_reference` (reference
lists), :mod:`sandbox.kore_app_venue` (inventory, venue, events), :mod:`sandbox.kore_app_deals`
(deals, billing, goals, touchpoints); :mod:`sandbox.kore_app_files` writes and reads the files.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from faker import Faker

from kore.contracts.kore_apps import ENTITIES, SPEC
from sandbox.kore_app_deals import (
    add_deal_sheet,
    add_goals,
    add_premium_deal,
    add_premium_deal_event,
    add_touchpoint,
)
from sandbox.kore_app_files import (
    expand_id_ranges,
    id_ranges,
    read_manifest,
    read_rows,
    sibling_acct_ids,
    sibling_owner_emails,
    snapshot_summary,
    write_snapshot,
)
from sandbox.kore_app_reference import add_reference
from sandbox.kore_app_tables import REP_EMAILS, AppTables, Row, fmt_ts, parse_ts
from sandbox.kore_app_venue import add_events, add_inventory, add_venue

DEFAULT_AS_OF = datetime(2026, 10, 1, 12, 0, 0)  # the sandbox Archtics export cutoff (T0)
# Archtics account ids of the sandbox ticketing data when the caller does not pass the real ones.
DEFAULT_ACCT_ID_START = 1_000_001


def generate(
    out_dir: Path,
    seed: int = 42,
    accounts: int = 1000,
    as_of: datetime | None = None,
    acct_ids: Sequence[int] | None = None,
    owner_emails: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Write a first snapshot of the KORE apps' database (every file replaced). Returns counts.

    ``acct_ids``: the Archtics account ids deals and touchpoints may be for, so the CRM references
    resolve through the dedup mapping. ``owner_emails``: the CRM users who own deals and goals.
    When not given they are read from the sandbox ticketing data next to ``out_dir`` (the Archtics
    generator's ``ground_truth.csv``, accounts in the static export, and ``crm_seed/users.jsonl``),
    else ``accounts`` ids from ``DEFAULT_ACCT_ID_START`` and a fixed list of sales reps.
    """
    out_dir = Path(out_dir)
    as_of = as_of or DEFAULT_AS_OF
    if acct_ids is None:
        acct_ids = sibling_acct_ids(out_dir.parent) or range(DEFAULT_ACCT_ID_START, DEFAULT_ACCT_ID_START + accounts)
    ids = list(acct_ids)
    owners = list(owner_emails) if owner_emails is not None else (sibling_owner_emails(out_dir.parent) or REP_EMAILS)
    if not ids or not owners:
        raise ValueError("acct_ids and owner_emails must not be empty")
    rng = random.Random(seed)
    fake = Faker("en_US")
    fake.seed_instance(seed)
    app = AppTables(rng, fake, ids, as_of - timedelta(days=420), as_of, owners)
    add_reference(app, as_of)
    add_inventory(app, accounts)
    add_venue(app, accounts)
    add_events(app)
    add_goals(app)
    for _ in range(max(5, accounts // 15)):
        add_deal_sheet(app)
    suites = list(app.rows["Suite"])
    rng.shuffle(suites)
    for suite in suites[: max(3, min(len(suites), accounts // 40))]:
        add_premium_deal(app, suite)
    for _ in range(max(10, accounts // 2)):
        add_touchpoint(app)
    manifest = write_snapshot(
        out_dir,
        app,
        {
            "as_of": fmt_ts(as_of),
            "generation": 1,
            "seed": seed,
            "accounts": accounts,
            "acct_id_ranges": id_ranges(ids),
            "owner_emails": owners,
        },
    )
    return snapshot_summary(manifest)


def _load(
    out_dir: Path,
    rng: random.Random,
    fake: Faker,
    acct_ids: Sequence[int],
    t_from: datetime,
    t_to: datetime,
    owners: Sequence[str],
) -> AppTables:
    app = AppTables(rng, fake, acct_ids, t_from, t_to, owners)
    for entity in ENTITIES:
        app.rows[entity] = read_rows(out_dir, entity)
        app.next_id[entity] = max((r["id"] for r in app.rows[entity]), default=0) + 1
    return app


def _edit(app: AppTables, entity: str, row: Row) -> None:
    """One realistic edit: a number renegotiated, a status moved on, or a rename."""
    nums = [f.name for f in SPEC[entity] if f.kind == "num" and row.get(f.name) is not None]
    if "status" in row and app.rng.random() < 0.5:
        choices = {
            "DealSheet": ["Open", "Signed", "Cancelled"],
            "PremiumDeal": ["Pending", "Signed", "Cancelled"],
            "Billing": ["Open", "Paid", "Overdue"],
            "InventoryItem": ["Active", "Retired"],
        }[entity]
        row["status"] = app.rng.choice([c for c in choices if c != row["status"]])
        if entity == "Billing" and row["status"] == "Paid":
            row["paid_amount"] = row["amount"]
    elif entity == "Touchpoint2":
        row["outcome"] = app.rng.choice(
            [o for o in ["Completed", "No Answer", "Follow-up Needed"] if o != row["outcome"]]
        )
    elif nums:
        col = app.rng.choice(nums)
        row[col] = round(row[col] * app.rng.choice([0.9, 1.05, 1.1, 1.25]) + 1, 2)
    else:
        m = re.search(r" \(rev (\d+)\)$", row["name"])
        rev = int(m.group(1)) + 1 if m else 2
        row["name"] = re.sub(r" \(rev \d+\)$", "", row["name"]) + f" (rev {rev})"
    lo = parse_ts(row["modified_at"])
    app_from = max(app.t_from, lo)
    row["modified_at"] = fmt_ts(
        app_from + timedelta(seconds=1 + app.rng.randrange(max(1, int((app.t_to - app_from).total_seconds()) - 2)))
    )


def mutate(
    out_dir: Path,
    fraction: float = 0.05,
    seed: int | None = None,
    as_of: datetime | None = None,
    new_deals: int | None = None,
) -> dict[str, Any]:
    """Move the app forward: edit ``fraction`` of each entity's rows and add new deals and touchpoints.

    Edited and new rows get ``modified_at`` in (previous as_of, new as_of]; untouched rows keep theirs,
    so an incremental load picks up exactly the changed rows. ``as_of`` defaults to 7 days after the
    previous snapshot. Deterministic for (files, seed). Returns counts of edited/added rows per entity.
    """
    out_dir = Path(out_dir)
    if not 0 <= fraction <= 1:
        raise ValueError("fraction must be between 0 and 1")
    manifest = read_manifest(out_dir)
    prev = parse_ts(manifest["as_of"])
    new_as_of = as_of or prev + timedelta(days=7)
    if new_as_of <= prev:
        raise ValueError(f"as_of {new_as_of} must be after the previous snapshot's {prev}")
    seed = manifest["seed"] if seed is None else seed
    generation = manifest["generation"] + 1
    rng = random.Random(f"{seed}-{generation}")
    fake = Faker("en_US")
    fake.seed_instance(seed * 1000 + generation)
    ids = expand_id_ranges(manifest["acct_id_ranges"])
    app = _load(out_dir, rng, fake, ids, prev, new_as_of, manifest["owner_emails"])
    before = {e: len(app.rows[e]) for e in ENTITIES}
    edited: dict[str, int] = {}
    for entity in ENTITIES:
        rows = app.rows[entity]
        k = round(len(rows) * fraction)
        for row in rng.sample(rows, min(len(rows), k)):
            _edit(app, entity, row)
        edited[entity] = min(len(rows), k)
    n_deals = new_deals if new_deals is not None else max(1, round(len(app.rows["DealSheet"]) * fraction))
    for _ in range(n_deals):
        add_deal_sheet(app)
    for _ in range(max(1, round(len(app.rows["Touchpoint2"]) * fraction))):
        add_touchpoint(app)
    for pd_ in rng.sample(app.rows["PremiumDeal"], min(2, len(app.rows["PremiumDeal"]))):
        taken = {r["event2_id"] for r in app.rows["PremiumDealEvent"] if r["premium_deal_id"] == pd_["id"]}
        free = [e for e in app.rows["Event2"] if e["season_id"] == pd_["season_id"] and e["id"] not in taken]
        if free:
            add_premium_deal_event(app, pd_, rng.choice(free))
    added = {e: len(app.rows[e]) - before[e] for e in ENTITIES}
    meta = {k: v for k, v in manifest.items() if k not in ("files", "format_version", "source")}
    manifest = write_snapshot(out_dir, app, {**meta, "as_of": fmt_ts(new_as_of), "generation": generation})
    return snapshot_summary(
        manifest, {"edited": edited, "added": added, "changed_rows": sum(edited.values()) + sum(added.values())}
    )
