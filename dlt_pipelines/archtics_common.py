"""What the landing pipelines know about the Archtics datasets, in one place.

The export pipeline and the delta pipeline write the SAME ``raw_archtics.<dataset>`` tables, so
they must agree on the business keys (what "the same row" means), the change-timestamp column
(what "newer" means), which datasets are child lists (replaced per account), which columns have
a declared type (checked on landing, kept as text) and how a row is hashed (so a delta that
changes nothing is recognised as such). Facts come from ``shared/domain/archtics-raw-schema.md``.
"""

from __future__ import annotations

import hashlib
import re
import shutil
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

RAW_DATASET = "raw_archtics"

# Columns the pipelines add; never part of the row hash.
SOURCE_FILE = "_source_file"
SOURCE_LINE = "_source_line"
ROW_HASH = "_row_hash"
BUSINESS_KEY = "_business_key"  # business key columns as one NULL-safe text value (merge key of deltas)
CHANGE_TS = "change_ts"  # carried by every API row; not an export column


@dataclass(frozen=True)
class Dataset:
    """One Archtics dataset (table) and how its rows are identified and ordered."""

    name: str
    business_key: tuple[str, ...]
    cursor: str | None  # the row's own change timestamp column in the export (None: none exists)
    parent_key: tuple[str, ...] = ()  # child list: rows arrive whole per parent and replace its rows
    integer_columns: tuple[str, ...] = ()
    timestamp_columns: tuple[str, ...] = ()
    date_columns: tuple[str, ...] = field(default_factory=tuple)

    @property
    def child_list(self) -> bool:
        return bool(self.parent_key)


DATASETS: dict[str, Dataset] = {
    d.name: d
    for d in (
        Dataset(
            "cust",
            ("acct_id", "cust_name_id"),
            "upd_date",
            integer_columns=("acct_id", "cust_name_id"),
            timestamp_columns=("add_date", "upd_date"),
        ),
        Dataset(
            "cust_address",
            ("acct_id", "cust_name_id", "cust_address_id"),
            None,
            parent_key=("acct_id",),
            integer_columns=("acct_id", "cust_name_id"),
        ),
        Dataset(
            "cust_email",
            ("acct_id", "cust_name_id", "email_id"),
            None,
            parent_key=("acct_id",),
            integer_columns=("acct_id", "cust_name_id"),
        ),
        Dataset(
            "cust_rep",
            ("acct_id", "acct_rep_id", "acct_rep_type"),
            None,
            parent_key=("acct_id",),
            integer_columns=("acct_id",),
        ),
        Dataset(
            "ticket",
            ("event_id", "section_id", "row_id", "seat_num", "ticket_status", "return_datetime"),
            "upd_datetime",
            integer_columns=("acct_id", "event_id"),
            timestamp_columns=("add_datetime", "upd_datetime", "return_datetime"),
        ),
        Dataset("evnt", ("event_id",), "upd_date", integer_columns=("event_id",), timestamp_columns=("upd_date",)),
        Dataset(
            "events_in_plan",
            ("plan_group_id", "plan_event_id", "event_id", "season_id"),
            None,
            parent_key=("plan_event_id",),
            integer_columns=("event_id",),
        ),
        Dataset(
            "season",
            ("season_id",),
            "upd_datetime",
            integer_columns=("season_id",),
            timestamp_columns=("add_datetime", "upd_datetime"),
        ),
        Dataset(
            "note",
            ("note_id", "task_stage_seq_num"),
            "upd_datetime",
            integer_columns=("note_id",),
            timestamp_columns=("upd_datetime",),
        ),
    )
}

# Child lists (cust_address, cust_email, cust_rep per account; events_in_plan per plan).
CHILD_LISTS = tuple(n for n, d in DATASETS.items() if d.child_list)
# Rows that belong to an account (removed when the account is merged into another one).
ACCOUNT_TABLES = ("cust", "cust_address", "cust_email", "cust_rep")

# Archtics writes an account merge as a note: "Merged account <old> into <new>".
MERGE_NOTE = re.compile(r"^\s*Merged account\s+(\d+)\s+into\s+(\d+)", re.IGNORECASE)

# Timestamps: ``YYYY-MM-DD HH:MM:SS`` (optionally ``.fff``) or a bare date; both engines parse these.
TIMESTAMP_PATTERN = r"^\d{4}-\d{2}-\d{2}( \d{2}:\d{2}:\d{2}(\.\d{1,6})?)?$"
INTEGER_PATTERN = r"^-?\d{1,18}$"

# Row hash: md5 over the source columns in name order, joined by \x1f, NULL written as \x1e.
# The same definition is computed by DuckDB for export chunks (vectorised) and by Python for API
# rows, so an API row identical to the landed row has the identical hash.
HASH_SEP = "\x1f"
HASH_NULL = "\x1e"


def hash_columns(columns: Iterable[str]) -> list[str]:
    """The columns that take part in the row hash: source columns only, in a canonical order."""
    return sorted(c for c in columns if not c.startswith("_") and c != CHANGE_TS)


def row_hash(row: Mapping[str, str | None], columns: Iterable[str] | None = None) -> str:
    """md5 of a row's source values (see HASH_SEP/HASH_NULL); equal rows give equal hashes."""
    cols = hash_columns(columns if columns is not None else row.keys())
    text = HASH_SEP.join(HASH_NULL if row.get(c) is None else str(row.get(c)) for c in cols)
    return hashlib.md5(text.encode("utf-8")).hexdigest()


def business_key(row: Mapping[str, str | None], ds: Dataset) -> str:
    """The business key columns joined into one text value; NULL-safe, unlike a SQL join on them."""
    return HASH_SEP.join(HASH_NULL if row.get(c) is None else str(row.get(c)) for c in ds.business_key)


def parse_merge_note(text: str | None) -> tuple[str, str] | None:
    """``(old_acct_id, new_acct_id)`` if the note text records an Archtics account merge."""
    if not text:
        return None
    m = MERGE_NOTE.match(text)
    return (m.group(1), m.group(2)) if m else None


def discard_interrupted_packages(working_dir: str | Path) -> list[str]:
    """Remove extracted dlt packages that a kill left half-deleted; returns their load ids.

    dlt's normalize step first renames the normalized package into the load storage (atomic) and
    then deletes the extracted copy (not atomic). A kill in between leaves an extracted package
    whose load id already sits in the load storage, or one without its jobs folder, and the next
    normalize fails on it. Such a package is a leftover: its data is in the load storage already.
    """
    root = Path(working_dir)
    extracted = root / "normalize" / "extracted"
    removed: list[str] = []
    if not extracted.is_dir():
        return removed
    for pkg in sorted(extracted.iterdir()):
        load_id = pkg.name
        in_load = any((root / "load" / state / load_id).exists() for state in ("normalized", "loaded"))
        if in_load or not (pkg / "new_jobs").is_dir():
            shutil.rmtree(pkg, ignore_errors=True)
            removed.append(load_id)
    return removed
