"""Warehouse I/O of the dedup step: with ``dedup.hold_pairs`` (the pairs that hold a contact back from
the push), the only module that reads or writes ``kore_dedup.*``.

Keeps connections short (DuckDB allows one writer: dbt and dlt run in between): a run opens one for
its reads and writes, never across runs. On DuckDB, frames travel as Arrow (``fetch_df`` here,
``Warehouse`` writes): no Python string object per text cell, no second copy of a large frame.
"""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime

import pandas as pd
import pyarrow as pa

from dedup.arrays import text_set
from dedup.blocking import FAMILIES
from kore.config import Settings
from kore.contracts import integrity
from kore.contracts.person_fields import PERSON_RECORD_COLUMNS
from kore.contracts.record_state import REVIEW_REQUEST_COLUMNS, REVIEW_REQUESTS
from kore.errors import NotReady
from kore.warehouse import Warehouse, as_arrow, connect

SCHEMA = "kore_dedup"
VIEW_SCHEMA = "dedup"
DECISION_KINDS = (
    "set_primary",
    "force_match",
    "forbid_match",
    "review_accept",
    "review_reject",
    "approve_move",  # contact_key: a pre-existing contact may move to the account dedup proposes
    "account_accept",  # record_id_l = KORE account key, record_id_r = CRM account id: the same account
    "account_reject",  # ... not the same account
)
ACCOUNT_DECISION_KINDS = ("account_accept", "account_reject")
DECISION_COLUMNS = (
    "decision_id",
    "kind",
    "record_id_l",
    "record_id_r",
    "acct_id",
    "contact_key",
    "note",
    "decided_at",
    "decided_by",
)


# what resolving and identity links read of the last run's results (not the golden values)
PREV_MAP_COLS = "acct_id, crm_contact_key, cluster_id, is_primary, first_seen_at"
PREV_GOLDEN_COLS = "cluster_id, contact_key, crm_contact_id, proposed_account_key"
RECORD_COLS = ", ".join(PERSON_RECORD_COLUMNS)
SCRATCH_TABLES = (
    "_ids",
    "_keys",
    "_clusters",
    "_affected",
    "_touched",
    "_accts",
    "_crm_accts",
    "_missing",
    "_outside",
    "_tf_values",
    "_account_keys",
    "_hold_flips",
    "_crm_accounts_changed",
    "_names",
    "_reach",
    "_hold_keys",
    "_review_contacts",
    "_review_accounts",
)


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")


_NULLABLE_INT = {
    pa.int8(): pd.Int8Dtype(),
    pa.int16(): pd.Int16Dtype(),
    pa.int32(): pd.Int32Dtype(),
    pa.int64(): pd.Int64Dtype(),
}


def fetch_df(wh: Warehouse, sql: str) -> pd.DataFrame:
    """A query's result as a frame; on DuckDB through Arrow.

    Why: DuckDB's ``.df()`` builds Python string objects for every text cell (~0.5 s per 100k rows of
    40 text columns); Arrow hands the text buffers to pandas' Arrow-backed strings without that.
    Types match ``Warehouse.query_df``: integer columns with nulls become nullable ``Int`` columns.
    """
    if wh.target != "duckdb":
        return wh.query_df(sql)
    # one chunk per column: DuckDB hands ~one chunk per row group, and pandas' factorize and take on
    # chunked Arrow text run chunk by chunk (factorize of 1.2M ids 0.34 s chunked, 0.04 s whole)
    tbl = wh.con.sql(sql).to_arrow_table().combine_chunks()
    df = tbl.to_pandas()
    for i, f in enumerate(tbl.schema):
        if f.type in _NULLABLE_INT and tbl.column(i).null_count:
            df[f.name] = tbl.column(i).to_pandas(types_mapper=_NULLABLE_INT.get).array
    return df


def text_columns(df: pd.DataFrame) -> pd.DataFrame:
    """Object columns as pandas ``string``, so the stored columns are text whatever values a run's
    frame holds (``tests/test_dedup_pipeline.py::test_stored_text_columns_stay_text``)."""
    return df.astype({c: "string" for c in df.columns if df[c].dtype == object})


def write_df(wh: Warehouse, table: str, df: pd.DataFrame, replace: bool = False) -> None:
    """Create/replace (``replace``) or append to kore_dedup.<table> from a frame (appends insert by
    column name; on DuckDB the frame travels as Arrow, see ``Warehouse.replace_table``)."""
    (wh.replace_table if replace else wh.append_df)(SCHEMA, table, df)


class Writes:
    """kore_dedup tables replaced from frames on a thread while the run goes on, one batch at a time.

    Why: a full run's large staging writes (the normalised records, then 13.7M pair scores at a
    million accounts: ~8 and ~10 s) kept one core busy and left the other idle, and the steps after
    them are pandas and numpy in the run's thread. DuckDB writes the Arrow copies without holding
    Python's lock, so the two overlap. :meth:`add` converts the frames at once (the caller may drop
    them) after the previous batch is done (one writer at a time); :meth:`wait` before anything
    reads or swaps the tables -- it raises a write's error, so a failed write fails the run as a
    write in line did. Only ``*_next`` tables are written this way, swapped in by the run's final
    transaction: a run that dies while a write goes on leaves the last run's tables.
    """

    def __init__(self) -> None:
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    def __enter__(self) -> Writes:
        return self

    def __exit__(self, *exc: object) -> None:
        self.settle()  # a run that failed for another reason still waits: no writer outlives it

    def add(self, settings: Settings, tables: dict[str, pd.DataFrame]) -> None:
        self.wait()
        convert = as_arrow if settings.target == "duckdb" else (lambda df: df)
        batch = {name: convert(df) for name, df in tables.items()}
        self._thread = threading.Thread(target=self._write, args=(settings, batch), name="dedup-write", daemon=True)
        self._thread.start()

    def _write(self, settings: Settings, batch: dict) -> None:
        try:
            with connect(settings) as wh:
                for name in list(batch):
                    write_df(wh, name, batch.pop(name), replace=True)
        except BaseException as exc:  # noqa: BLE001 - raised again in the thread that waits
            self._error = exc

    def wait(self) -> None:
        """Until the writes are done; a failed write's error (once)."""
        self.settle()
        error, self._error = self._error, None
        if error is not None:
            raise error

    def settle(self) -> None:
        """Until the writes are done, whatever their outcome (a run failing for another reason)."""
        if self._thread is not None:
            self._thread.join()
            self._thread = None


def read_table(wh: Warehouse, table: str, schema: str = SCHEMA, where: str = "", columns: str = "*") -> pd.DataFrame:
    """A whole kore_dedup table as a frame (empty frame when the table does not exist yet)."""
    if not wh.table_exists(schema, table):
        return pd.DataFrame()
    return fetch_df(wh, f"select {columns} from {schema}.{table} {where}")


def removed_record_requests(wh: Warehouse) -> pd.DataFrame:
    """Archtics accounts whose CRM contact or account a person removed in the CRM (deleted, merged,
    deactivated): the push withholds that record and asks here for a decision. A reviewer maps the
    account to the contact the CRM kept (``force-match``), or leaves it to become a new one."""
    schema, table = REVIEW_REQUESTS
    if not wh.table_exists(schema, table):
        return pd.DataFrame(columns=list(REVIEW_REQUEST_COLUMNS))
    return fetch_df(wh, f"select {', '.join(REVIEW_REQUEST_COLUMNS)} from {schema}.{table}")


def read_records(wh: Warehouse) -> pd.DataFrame:
    if not wh.table_exists(VIEW_SCHEMA, "dedup_person_records"):
        raise NotReady("dedup.dedup_person_records does not exist", "run `kore build` (the dedup views) first")
    # in record_id order: a view's rows come in whatever order its joins finish, and the positions
    # follow it (the random pairs that estimate u are drawn by position, seeded): two runs on the same
    # data must fit the same model
    return check_records(fetch_df(wh, f"select * from {VIEW_SCHEMA}.dedup_person_records order by record_id"))


def check_records(records: pd.DataFrame) -> pd.DataFrame:
    """Refuse person records without a record_id or with one repeated: every cluster, mapping and
    golden contact is keyed on it. (dbt checks the same on the whole view when the SQL changes --
    the kore_primary_key test of dedup_person_records; this guards every run, on the rows it reads.)"""
    if "record_id" in records.columns and len(records):
        ids = records["record_id"]
        missing, repeated = int(ids.isna().sum()), int(ids.duplicated().sum())
        if missing or repeated:
            raise ValueError(
                f"dedup.dedup_person_records is malformed: {missing} record(s) without record_id, "
                f"{repeated} repeated record_id(s); fix the view (a join that fans out?) and re-run dbt"
            )
    return records


def decisions(wh: Warehouse) -> pd.DataFrame:
    df = read_table(wh, "decisions")
    if not len(df):
        return pd.DataFrame(columns=list(DECISION_COLUMNS))
    return df


def add_decision(
    settings: Settings,
    kind: str,
    record_id_l: str | None = None,
    record_id_r: str | None = None,
    acct_id: str | None = None,
    contact_key: str | None = None,
    note: str = "",
    decided_by: str = "person",
) -> dict:
    """Record a manual decision; every later run re-applies it."""
    if kind not in DECISION_KINDS:
        raise ValueError(f"unknown decision kind {kind!r}")
    ordered = kind not in ACCOUNT_DECISION_KINDS  # a pair of records has no order; an account decision has
    if ordered and record_id_l is not None and record_id_r is not None and record_id_l > record_id_r:
        record_id_l, record_id_r = record_id_r, record_id_l
    row = {
        "decision_id": uuid.uuid4().hex[:16],
        "kind": kind,
        "record_id_l": record_id_l,
        "record_id_r": record_id_r,
        "acct_id": None if acct_id is None else str(acct_id),
        "contact_key": contact_key,
        "note": note,
        "decided_at": now(),
        "decided_by": decided_by,
    }
    df = pd.DataFrame([row]).astype("string")
    with connect(settings) as wh:
        wh.append_df(SCHEMA, "decisions", df)
    return row


def write_ids(wh: Warehouse, ids: set[str] | list[str] | pd.Series, name: str = "_ids") -> str:
    """A scratch table of ids (for deletes and lookups by a set of ids); returns its qualified name.
    A Series (each value once) is written as it is: sorting a Python set of a million values costs
    ~1 s."""
    column = ids.astype("string") if isinstance(ids, pd.Series) else pd.Series(sorted(ids), dtype="string")
    write_df(wh, name, pd.DataFrame({"id": column}), replace=True)
    return f"{SCHEMA}.{name}"


def name_freq_for(wh: Warehouse, values: pd.Series) -> pd.DataFrame:
    """The stored term frequencies of ``values`` (in any field; text, each once) and the ``_records``
    row: an incremental run scores a neighbourhood, not the million values the table holds."""
    if not wh.table_exists(SCHEMA, "name_freq"):
        return pd.DataFrame(columns=["field", "value", "freq"])
    ids = write_ids(wh, values, "_tf_values")
    return fetch_df(
        wh,
        f"select field, value, freq from {SCHEMA}.name_freq where field = '_records' or value in (select id from {ids})",
    )


def delete_where_in(wh: Warehouse, table: str, columns: tuple[str, ...], ids_table: str) -> None:
    """Delete rows of kore_dedup.<table> whose any of ``columns`` is in the ids table."""
    if not wh.table_exists(SCHEMA, table):
        return
    cond = " or ".join(f"{_text(c)} in (select id from {ids_table})" for c in columns)
    wh.execute(f"delete from {SCHEMA}.{table} where {cond}")


def rows_where_in(
    wh: Warehouse, table: str, column: str, ids_table: str, schema: str = SCHEMA, columns: str = "*"
) -> pd.DataFrame:
    if not wh.table_exists(schema, table):
        return pd.DataFrame()
    return fetch_df(wh, f"select {columns} from {schema}.{table} where {_text(column)} in (select id from {ids_table})")


def _text(column: str) -> str:
    """Compare id columns as text; only numeric ones need a cast (a cast on text defeats pruning)."""
    return f"cast({column} as varchar(40))" if column == "acct_id" else column


# ---- state of the last run ----------------------------------------------------------------------
# Raised when the state incremental runs keep changes in a way only a full run repairs; a full run
# stores it (``state_version``) and a lower or missing one makes the next run a full one. 2: the
# review queue kept the pairs between re-resolved and untouched clusters (incremental runs before
# dropped them, and the holds they placed). 3: pair_scores keeps only the pairs that carry evidence
# (``dedup.engine.carries_evidence``), under the cannot-link threshold stored beside the version.
STATE_VERSION = 3
STATE_TABLES = ("records_norm", "name_freq", "pair_scores", "model_params", "clusters", "account_contact_map",
                "golden_contacts", "review_queue", "golden_accounts", "push_holds", "account_review")  # fmt: skip


def has_state(wh: Warehouse, cannot_link_threshold: float) -> bool:
    """Whether a full run's state is stored (and in today's record columns and blocking keys: older
    state is rebuilt -- a stored record without a key family of today's blocking would never be
    blocked on it).

    Every output table must be there: a warehouse written by a run killed between its table writes
    (before they were one transaction) is rebuilt by a full run instead of failing every re-run. And
    the state must be of today's ``STATE_VERSION``: an older one was kept by incremental runs that
    left something only a full run repairs. ``pair_scores`` keeps the pairs that carry evidence under
    the cannot-link threshold of the run that scored them (``dedup.engine.carries_evidence``): a run
    under another ``cannot_link_threshold`` would miss cannot-links the stored state dropped.
    """
    if not all(wh.table_exists(SCHEMA, t) for t in (*STATE_TABLES, "state_version")):
        return False
    state = wh.query_df(f"select * from {SCHEMA}.state_version")  # one row
    if not len(state) or "cannot_link_threshold" not in state.columns:  # before the threshold was stored
        return False
    version = pd.to_numeric(state["version"], errors="coerce").max()
    threshold = pd.to_numeric(state["cannot_link_threshold"], errors="coerce").max()
    if not version >= STATE_VERSION or threshold != float(cannot_link_threshold):  # NaN: neither holds
        return False
    stored = set(wh.query_df(f"select * from {SCHEMA}.records_norm where 1 = 0").columns)
    return {*PERSON_RECORD_COLUMNS, *("k_" + f for f in FAMILIES)} <= stored


def sample_records(wh: Warehouse, n: int) -> pd.DataFrame:
    """A few stored records with their blocking-key codes (whichever rows come first)."""
    keys = ", ".join("k_" + f for f in FAMILIES)
    if wh.target == "duckdb":
        return fetch_df(wh, f"select {RECORD_COLS}, {keys} from {SCHEMA}.records_norm limit {int(n)}")
    return fetch_df(wh, f"select top {int(n)} {RECORD_COLS}, {keys} from {SCHEMA}.records_norm")


def read_previous(wh: Warehouse) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The last run's clusters, account mapping and golden contacts (the columns resolving reads)."""
    return (
        read_table(wh, "clusters"),
        read_table(wh, "account_contact_map", columns=PREV_MAP_COLS),
        read_table(wh, "golden_contacts", columns=PREV_GOLDEN_COLS),
    )


def read_view_delta(wh: Warehouse) -> pd.DataFrame:
    """New or changed rows of the view (``row_hash`` differs) and stored records the view no longer
    has (``record_id`` null, their id in ``_kore_stored_id``): one join."""
    if not wh.table_exists(VIEW_SCHEMA, "dedup_person_records"):
        read_records(wh)  # raises the clear "run dbt first" error
    return fetch_df(
        wh,
        f"select v.*, n.record_id as _kore_stored_id from {VIEW_SCHEMA}.dedup_person_records v "
        f"full join {SCHEMA}.records_norm n on n.record_id = v.record_id "
        "where v.record_id is null or n.record_id is null or n.row_hash <> v.row_hash",
    )


def read_neighbours(
    wh: Warehouse,
    keys: pd.DataFrame,
    max_block_size: int,
    ids: dict[str, set[str]],
    key_columns: tuple[str, ...] = (),
    exclude: set[str] | frozenset[str] = frozenset(),
) -> pd.DataFrame | None:
    """Stored records (``RECORD_COLS`` and the stored blocking keys ``key_columns``) sharing a
    blocking key of ``keys`` (fam = ``k_<family>`` column, id = key value; blocks of
    ``max_block_size`` or more skipped) or whose column (key of ``ids``) holds one of its ids -- ONE
    scan of records_norm; rows whose record_id is in ``exclude`` left out (in SQL: filtering the
    frame after the read cost ~0.8 s at 231k rows). None when there is nothing to look for.
    """
    fams = keys["fam"].drop_duplicates().tolist()
    conds, ctes = [], []
    if fams:
        write_df(wh, "_keys", keys, replace=True)
        ctes = [
            f"sz_{c} as (select {c} as k from {SCHEMA}.records_norm where {c} in "
            f"(select id from {SCHEMA}._keys where fam = '{c}') group by {c} having count(*) < {int(max_block_size)})"
            for c in fams
        ]
        conds += [f"{c} in (select k from sz_{c})" for c in fams]
    scratch = {"record_id": "_ids", "acct_id": "_accts", "archtics_account_id_on_crm": "_crm_accts"}
    for column, values in ids.items():
        if values:
            t = write_ids(wh, values, scratch[column])
            conds.append(f"{_text(column)} in (select id from {t})")
    if not conds:
        return None
    with_ = ("with " + ",\n".join(ctes) + "\n") if ctes else ""
    cols = ", ".join([RECORD_COLS, *key_columns])
    where = f"({' or '.join(conds)})"
    if exclude:
        where += f" and record_id not in (select id from {write_ids(wh, exclude, '_touched')})"
    return fetch_df(wh, f"{with_}select {cols} from {SCHEMA}.records_norm where {where}")


def cluster_ids_where(wh: Warehouse, table: str, column: str, ids: set[str]) -> set[str]:
    """Cluster ids of the rows of kore_dedup.<table> whose ``column`` is in ``ids``."""
    t = write_ids(wh, ids)
    return text_set(rows_where_in(wh, table, column, t).get("cluster_id", pd.Series()))


def account_clusters(wh: Warehouse, accounts: set[str]) -> pd.DataFrame:
    """(acct_id, cluster_id) rows, as text, of ``accounts`` and of every account whose names sit in
    more than one cluster."""
    ta = write_ids(wh, accounts, "_accts")
    return fetch_df(
        wh,
        f"with ac as (select distinct n.acct_id, c.cluster_id from {SCHEMA}.records_norm n "
        f"join {SCHEMA}.clusters c on c.record_id = n.record_id where n.acct_id is not null), "
        "multi as (select acct_id from ac group by acct_id having count(*) > 1) "
        f"select acct_id, cluster_id from ac where acct_id in (select acct_id from multi) "
        f"or acct_id in (select id from {ta})",
    ).astype(str)


def stored_pair(wh: Warehouse, record_id_l: str, record_id_r: str) -> pd.DataFrame:
    """The stored score row of one ordered pair (empty when none is stored)."""
    if not wh.table_exists(SCHEMA, "pair_scores"):
        return pd.DataFrame(columns=["decision"])
    return wh.query_df(
        f"select * from {SCHEMA}.pair_scores where record_id_l = ? and record_id_r = ?", [record_id_l, record_id_r]
    )


def pair_scores_within(wh: Warehouse, ids_table: str) -> pd.DataFrame:
    """Stored pair scores with both records in the ids table."""
    return fetch_df(
        wh,
        f"select * from {SCHEMA}.pair_scores where record_id_l in (select id from {ids_table}) "
        f"and record_id_r in (select id from {ids_table})",
    )


def replace_pairs(wh: Warehouse, table: str, within: str, touching: str, rows: pd.DataFrame) -> None:
    """Delete the pairs of kore_dedup.<table> with both records in the ids table ``within`` or one in
    the ids table ``touching``; append ``rows``."""
    if wh.table_exists(SCHEMA, table):
        wh.execute(
            f"delete from {SCHEMA}.{table} where (record_id_l in (select id from {within}) "
            f"and record_id_r in (select id from {within})) or record_id_l in (select id from {touching}) "
            f"or record_id_r in (select id from {touching})"
        )
    append(wh, table, rows)


def clusters_held_elsewhere(wh: Warehouse, cluster_ids: set[str], own_table: str) -> set[str]:
    """Which of ``cluster_ids`` a stored cluster outside the own clusters (ids table) already holds."""
    t = write_ids(wh, cluster_ids)
    return set(
        fetch_df(
            wh,
            f"select distinct cluster_id from {SCHEMA}.clusters where cluster_id in (select id from {t}) "
            f"and cluster_id not in (select id from {own_table})",
        )["cluster_id"].astype(str)
    )


def drop_scratch(wh: Warehouse) -> None:
    for scratch in SCRATCH_TABLES:
        if wh.table_exists(SCHEMA, scratch):
            wh.execute(f"drop table {SCHEMA}.{scratch}")


def swap_in(wh: Warehouse, staged: str, table: str) -> None:
    """Replace kore_dedup.<table> by the staged table (rename, no copy)."""
    if wh.table_exists(SCHEMA, table):
        wh.execute(f"drop table {SCHEMA}.{table}")
    if wh.target == "duckdb":
        wh.execute(f"alter table {SCHEMA}.{staged} rename to {table}")
    else:
        wh.execute(f"exec sp_rename '{SCHEMA}.{staged}', '{table}'")


def append(wh: Warehouse, table: str, df: pd.DataFrame) -> None:
    """Append matching columns (the stored table's column set and order)."""
    if not len(df):
        return
    if not wh.table_exists(SCHEMA, table):
        write_df(wh, table, df, replace=True)
        return
    cols = fetch_df(wh, f"select * from {SCHEMA}.{table} where 1 = 0").columns
    write_df(wh, table, df[[c for c in cols if c in df.columns]])


def replace_rows(wh: Warehouse, table: str, columns: tuple[str, ...], ids_table: str, rows: pd.DataFrame) -> None:
    """Delete the rows of kore_dedup.<table> whose any of ``columns`` is in the ids table, append ``rows``."""
    delete_where_in(wh, table, columns, ids_table)
    append(wh, table, rows)


TOTALS = (
    "records",
    "clusters",
    "matches",
    "possibles",
    "pairs_total",
    "review_queue",
    "contacts_new",
    "contacts_matched",
    "accounts_mapped",
)


def totals(wh: Warehouse) -> dict:
    """The run summary's table figures (``TOTALS``)."""
    # one scan per table (pair_scores has millions of rows: its three figures come from one pass)
    S = SCHEMA
    q = (
        "select r.n, c.n, p.m, p.p, p.n, q.n, g.new_, g.matched, a.n from "
        f"(select count(*) as n from {S}.records_norm) r "
        f"cross join (select count(distinct cluster_id) as n from {S}.clusters) c "
        "cross join (select sum(case when decision = 'match' then 1 else 0 end) as m, "
        f"sum(case when decision = 'possible' then 1 else 0 end) as p, count(*) as n from {S}.pair_scores) p "
        f"cross join (select count(*) as n from {S}.review_queue) q "
        "cross join (select sum(case when crm_contact_id is null then 1 else 0 end) as new_, "
        f"sum(case when crm_contact_id is null then 0 else 1 end) as matched from {S}.golden_contacts) g "
        f"cross join (select count(*) as n from {S}.account_contact_map) a"
    )
    r = wh.query_rows(q)[0]
    return {n: int(v or 0) for n, v in zip(TOTALS, r, strict=True)}


def write_full_run(
    wh: Warehouse, model_params: pd.DataFrame, tables: dict[str, pd.DataFrame], cannot_link_threshold: float
) -> None:
    """A full run's results: the staged tables swapped in, the others replaced whole; the state's
    version and the cannot-link threshold its stored pairs were kept under (``has_state``)."""
    for table in ("records_norm", "name_freq", "pair_scores"):
        swap_in(wh, f"_{table}_next", table)
    wh.replace_table(SCHEMA, "model_params", model_params)
    state = {"version": [STATE_VERSION], "written_at": [now()], "cannot_link_threshold": [float(cannot_link_threshold)]}
    wh.replace_table(SCHEMA, "state_version", pd.DataFrame(state))
    for table, df in tables.items():
        write_df(wh, table, df, replace=True)
    if not wh.table_exists(SCHEMA, "decisions"):
        wh.replace_table(SCHEMA, "decisions", decisions(wh).astype("string"))


# ---- CRM accounts, parents, protection (dedup.accounts / dedup.parents) --------------------------
CRM_SCHEMA = "kore"
CRM_ACCOUNT_COLS = "crm_id, name, phone, street, city, state, postal_code, country, archtics_account_id, kore_external_key, modified_at"
PROTECTED_COLUMNS = (integrity.PROTECTED_KEY, "kind", "note", "protected_at", "protected_by")


def _has_columns(wh: Warehouse, schema: str, table: str, columns: set[str]) -> bool:
    if not wh.table_exists(schema, table):
        return False
    return columns <= set(wh.query_df(f"select * from {schema}.{table} where 1 = 0").columns)


def read_crm_accounts(wh: Warehouse) -> pd.DataFrame:
    """The CRM's accounts as the last pull left them (``kore.SyncedAccounts``); empty without a pull."""
    return read_table(wh, "SyncedAccounts", schema=CRM_SCHEMA, columns=CRM_ACCOUNT_COLS)


def changed_crm_accounts(wh: Warehouse, versions: pd.DataFrame) -> set[str] | None:
    """CRM ids whose version (``dedup.pipeline.crm_account_versions``) differs from the last run's,
    appeared or went; None when no run stored versions yet (then everything counts as changed)."""
    if not wh.table_exists(SCHEMA, "crm_account_versions"):
        return None
    stored = read_table(wh, "crm_account_versions", columns="crm_id, version").astype(str)
    now = versions.astype(str)
    both = now.merge(stored, on="crm_id", how="outer", suffixes=("", "_stored"), indicator=True)
    differ = (both["_merge"] != "both") | (both["version"] != both["version_stored"])
    return set(both.loc[differ, "crm_id"])


def read_crm_parents(wh: Warehouse) -> pd.Series:
    """CRM contact id -> its parent account's CRM id (``kore.SyncedContacts.account_id``)."""
    df = read_table(
        wh, "SyncedContacts", schema=CRM_SCHEMA, where="where account_id is not null", columns="crm_id, account_id"
    )
    if not len(df):
        return pd.Series(dtype=object)
    return pd.Series(df["account_id"].astype(str).to_numpy(), index=df["crm_id"].astype(str))


def read_account_facts(wh: Warehouse) -> pd.DataFrame:
    """Ticketing facts per Archtics account and season rank (``dedup.dedup_account_facts``)."""
    return read_table(wh, "dedup_account_facts", schema=VIEW_SCHEMA)


def owned_contact_keys(wh: Warehouse) -> pd.Series:
    """contact_key -> 1 for the contacts the last run called pre-existing in the CRM (``crm_owned``)."""
    if not _has_columns(wh, SCHEMA, "golden_contacts", {"crm_owned"}):
        return pd.Series(dtype=int)
    df = fetch_df(wh, f"select contact_key from {SCHEMA}.golden_contacts where crm_owned = 1")
    return pd.Series(1, index=df["contact_key"].astype(str))


def protected_keys(wh: Warehouse) -> set[str]:
    """CRM ids and KORE keys of the protected contacts/accounts (``kore_dedup.protected_records``)."""
    df = read_table(wh, "protected_records", columns=integrity.PROTECTED_KEY)
    return set(df[integrity.PROTECTED_KEY].astype(str)) if len(df) else set()


def protect(settings: Settings, record_key: str, kind: str, note: str = "", by: str = "person") -> None:
    """Add a contact/account (CRM id or KORE key) to the protected list (idempotent)."""
    row = pd.DataFrame([dict(zip(PROTECTED_COLUMNS, (record_key, kind, note, now(), by), strict=True))])
    with connect(settings) as wh:
        if record_key in protected_keys(wh):
            return
        wh.append_df(SCHEMA, "protected_records", row.astype("string"))


def unprotect(settings: Settings, record_keys: set[str]) -> None:
    with connect(settings) as wh:
        if wh.table_exists(SCHEMA, "protected_records"):
            t = write_ids(wh, record_keys)
            wh.execute(
                f"delete from {SCHEMA}.protected_records where {integrity.PROTECTED_KEY} in (select id from {t})"
            )
            drop_scratch(wh)
