"""The incremental run's reach: which records changed, which stored records they may match, which
stored clusters they touch.

Cost grows with the change, not with the data set: the warehouse finds the neighbourhood by SQL
(``dedup.store``), Python only ever holds the changed records and their neighbourhood.

1. ``read_delta``: records new or changed in the view (``row_hash``) and stored records gone from it
   (or now of an excluded Account Type); the changed ones normalised with their blocking keys.
2. ``find_partners``: stored records a changed record may link to -- the stored records sharing a
   blocking key with it (their stored ``k_<family>`` columns: never the dbt candidate view, which
   computes every pair of the data set before it can filter: 46 s at a million accounts), the
   records of manual decisions, and the other side of deterministic links (a CRM contact carrying an Archtics account
   id <-> that account's names) -- read in one scan.
3. ``find_affected``: the clusters to re-cluster -- the old clusters of touched records, the
   clusters of new match partners, of records named in manual decisions (re-applied every run), of
   accounts with a manual primary, of the KORE contact keys changed CRM contacts carry -- closed over
   accounts whose names sit in several clusters; their members and the pair scores among them,
   and a changed record's possible matches in a cluster left alone (queued for review: the queue's
   pairs of an unchanged member with such a cluster stay as they are, see ``dedup.pipeline``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import pandas as pd

from dedup import store
from dedup.arrays import in_ids, text_set
from dedup.decisions import set_primary
from dedup.engine import ensure_columns
from dedup.records import excluded, norm_with_keys
from kore.contracts.person_fields import PERSON_RECORD_COLUMNS
from kore.warehouse import Warehouse

COLS = list(PERSON_RECORD_COLUMNS)


@dataclass
class Delta:
    """What changed in the view since the last run."""

    changed: pd.DataFrame  # new or changed records, normalised, with ``k_<family>`` blocking keys
    removed: set[str]  # stored records gone from the view or now of an excluded Account Type
    excluded: int  # changed rows of an excluded Account Type

    @cached_property
    def changed_ids(self) -> set[str]:
        return text_set(self.changed["record_id"])

    @cached_property
    def touched(self) -> set[str]:
        return self.changed_ids | self.removed

    def values(self, column: str, source: str | None = None) -> set[str]:
        """Non-null values of ``column`` on the changed records (of ``source`` only, if given)."""
        c = self.changed
        return text_set(c[column] if source is None else c.loc[c["source"] == source, column])


@dataclass
class Partners:
    """The records an incremental run scores: the changed ones and their stored neighbours."""

    records: pd.DataFrame  # changed records first, then stored neighbours (contract columns)
    decided: set[str]  # records named in manual pair decisions
    keys: pd.DataFrame  # the records' ``k_<family>`` blocking-key codes (``dedup.records.key_codes``), row for row


@dataclass
class Affected:
    """The stored clusters an incremental run rewrites, what they hold and what they held."""

    seed_clusters: set[str]
    clusters_table: str  # scratch ids table holding ``seed_clusters``
    prev_clusters: pd.DataFrame
    ids: set[str]  # their records, with the changed ones, without the removed ones
    records: pd.DataFrame
    scores: pd.DataFrame  # stored scores among untouched members + new scores among members
    reaching_scores: pd.DataFrame  # new possible matches of a changed record in an untouched cluster
    outside_clusters: pd.DataFrame  # the stored clusters of those records (``clusters`` rows)
    prev_map: pd.DataFrame
    prev_golden: pd.DataFrame


def read_delta(wh: Warehouse) -> Delta:
    diff = store.read_view_delta(wh)
    gone = (diff["record_id"].isna() & diff["_kore_stored_id"].notna()).to_numpy(dtype=bool)
    store.check_records(diff.loc[~gone])
    removed = text_set(diff.loc[gone, "_kore_stored_id"])
    changed_raw = ensure_columns(diff.loc[~gone].drop(columns="_kore_stored_id"))
    excl = excluded(changed_raw)
    removed |= text_set(changed_raw.loc[excl, "record_id"])  # now excluded: leaves the CRM side
    changed = norm_with_keys(changed_raw[~excl]) if (~excl).any() else norm_with_keys(changed_raw.iloc[:0])
    return Delta(changed=changed, removed=removed, excluded=int(excl.sum()))


def stored_neighbours(
    wh: Warehouse,
    changed: pd.DataFrame,
    max_block_size: int,
    record_ids: set[str],
    acct_ids: set[str],
    crm_acct_ids: set[str],
    exclude: set[str] | None = None,
) -> pd.DataFrame:
    """Stored records a changed record may link to, in ONE scan of records_norm.

    Rows sharing a blocking key with a changed record (blocks over the size cap skipped), rows named
    in ``record_ids`` (manual decisions), names of
    the Archtics accounts in ``acct_ids`` (accounts a changed CRM contact carries) and CRM contacts
    carrying an account in ``crm_acct_ids`` (accounts of changed Archtics names); none of the
    records in ``exclude`` (the touched ones: their stored versions are what changed).
    Why one statement: each read of records_norm decompresses every column of a million rows
    (~0.4 s), whatever the number of rows it returns; the incremental run must stay small.
    """
    kcols = key_columns(changed)
    keys = pd.concat(
        [pd.DataFrame({"fam": pd.Series(dtype="string"), "id": pd.Series(dtype="Int64")})]
        + [pd.DataFrame({"fam": c, "id": changed[c].dropna().unique()}) for c in kcols],
        ignore_index=True,
    ).astype({"fam": "string", "id": "Int64"})
    ids = {"record_id": record_ids, "acct_id": acct_ids, "archtics_account_id_on_crm": crm_acct_ids}
    found = store.read_neighbours(wh, keys, max_block_size, ids, kcols, exclude or set())
    return changed[[*COLS, *kcols]].iloc[:0] if found is None else found


def stored_keys_current(wh: Warehouse, sample: int = 50) -> bool:
    """Whether records_norm's blocking-key codes are today's: a few stored records' keys made again
    must equal the stored ones. A changed blocking-key definition, or a DuckDB that computes the
    codes otherwise (``dedup.records.key_codes``), would leave every stored code stale and the changed records' keys
    would find no neighbour: the run is then a full one."""
    stored = store.sample_records(wh, sample)
    if not len(stored):
        return True
    kcols = [c for c in stored.columns if c.startswith("k_")]
    fresh = norm_with_keys(stored[COLS])[kcols].reset_index(drop=True)
    try:
        held = stored_codes(stored[kcols]).reset_index(drop=True)
    except (ValueError, TypeError):  # the text keys of a state stored before the codes: stale too
        return False
    return bool(fresh.equals(held))


def stored_codes(keys: pd.DataFrame) -> pd.DataFrame:
    """Stored ``k_<family>`` codes as Int64, whatever the warehouse returned them as (SQL Server:
    text, parsed exactly); raises ValueError on text that is no code."""
    if not all(pd.api.types.is_integer_dtype(t) for t in keys.dtypes):
        keys = keys.apply(pd.to_numeric, dtype_backend="numpy_nullable")
    return keys.astype("Int64")


def key_columns(changed: pd.DataFrame) -> tuple[str, ...]:
    """The ``k_<family>`` blocking-key columns (``dedup.records.norm_with_keys``; records_norm stores them)."""
    return tuple(c for c in changed.columns if c.startswith("k_"))


def find_partners(wh: Warehouse, delta: Delta, dec: pd.DataFrame, max_block_size: int) -> Partners:
    """The changed records and the stored records they may link to (see the module docstring)."""
    touched = delta.touched
    pair_dec = dec.dropna(subset=["record_id_l", "record_id_r"])
    decided = text_set(pair_dec["record_id_l"]) | text_set(pair_dec["record_id_r"])
    others = stored_neighbours(
        wh,
        delta.changed,
        max_block_size,
        decided - touched,
        delta.values("archtics_account_id_on_crm"),
        delta.values("acct_id", "archtics"),
        exclude=touched,
    )
    kcols = list(key_columns(delta.changed))
    others = ensure_columns(others).drop_duplicates("record_id")
    records = pd.concat([delta.changed[COLS], others[COLS]], ignore_index=True)
    keys = pd.concat([delta.changed[kcols], stored_codes(others[kcols])], ignore_index=True)
    return Partners(records=records, decided=decided, keys=keys)


def seed_clusters(
    wh: Warehouse, delta: Delta, new_scores: pd.DataFrame, dec: pd.DataFrame, decided: set[str]
) -> set[str]:
    """Stored clusters the change reaches (see the module docstring), closed over shared accounts."""
    linked = new_scores.loc[new_scores["decision"] == "match", ["record_id_l", "record_id_r"]]
    seeds = delta.touched | text_set(linked["record_id_l"]) | text_set(linked["record_id_r"]) | decided
    found = store.cluster_ids_where(wh, "clusters", "record_id", seeds)
    sp = set_primary(dec)
    if len(sp):
        found |= store.cluster_ids_where(wh, "account_contact_map", "acct_id", text_set(sp["acct_id"]))
    # CRM contacts carrying a KORE contact key join that key's cluster: re-resolve it too
    kore_keys = delta.values("kore_external_key", "crm")
    if kore_keys:
        found |= store.cluster_ids_where(wh, "golden_contacts", "contact_key", kore_keys)
    return account_closure(wh, found, delta.values("acct_id", "archtics"))


def find_affected(
    wh: Warehouse,
    delta: Delta,
    partners: Partners,
    scored: pd.DataFrame,
    new_scores: pd.DataFrame,
    dec: pd.DataFrame,
) -> Affected:
    """The affected clusters with their members and scores. ``scored``: the records scored this run
    (the scorer's), ``new_scores`` their scores; most members were read as partners already."""
    seeds = seed_clusters(wh, delta, new_scores, dec, partners.decided)
    touched = delta.touched
    tc = store.write_ids(wh, seeds, "_clusters")
    prev_clusters = store.rows_where_in(wh, "clusters", "cluster_id", tc)
    ids = (text_set(prev_clusters["record_id"]) | delta.changed_ids) - delta.removed
    ta = store.write_ids(wh, ids, "_affected")
    known = scored[in_ids(scored["record_id"], ids - touched)]
    missing = ids - touched - text_set(known["record_id"])
    parts = [delta.changed[COLS], known[COLS]]
    if missing:
        tm = store.write_ids(wh, missing, "_missing")
        parts.append(
            ensure_columns(store.rows_where_in(wh, "records_norm", "record_id", tm, columns=store.RECORD_COLS))
        )
    old_scores = store.pair_scores_within(wh, ta)
    old_scores = old_scores[~(in_ids(old_scores["record_id_l"], touched) | in_ids(old_scores["record_id_r"], touched))]
    in_aff = in_ids(new_scores["record_id_l"], ids) & in_ids(new_scores["record_id_r"], ids)
    # a changed record's possible matches in a cluster this run leaves alone: queued for review
    reaching = new_scores[~in_aff & (new_scores["decision"] == "possible")]
    outside = (text_set(reaching["record_id_l"]) | text_set(reaching["record_id_r"])) - ids
    return Affected(
        seed_clusters=seeds,
        clusters_table=tc,
        prev_clusters=prev_clusters,
        ids=ids,
        records=pd.concat(parts, ignore_index=True)[COLS],
        scores=pd.concat([old_scores, new_scores[in_aff]], ignore_index=True),
        reaching_scores=reaching,
        outside_clusters=store.rows_where_in(wh, "clusters", "record_id", store.write_ids(wh, outside, "_outside"))
        if outside
        else prev_clusters.iloc[:0],
        prev_map=store.rows_where_in(wh, "account_contact_map", "cluster_id", tc, columns=store.PREV_MAP_COLS),
        prev_golden=store.rows_where_in(wh, "golden_contacts", "cluster_id", tc, columns=store.PREV_GOLDEN_COLS),
    )


def account_closure(wh: Warehouse, seeds: set[str], accounts: set[str]) -> set[str]:
    """The seed clusters plus every cluster holding a name of an account they touch (to a fixpoint).

    Why: an account stands for its primary name. When an account's names sit in several clusters,
    re-resolving only some of them would take a secondary name as the account's record and map the
    account a second time, next to the row its untouched cluster keeps.
    How: one statement reads the (account, cluster) rows of the given ``accounts`` and of every
    account whose names sit in more than one cluster (the only ones that can widen the set); the
    fixpoint is then found in memory (no round trip per step of a chain of accounts).
    """
    seeds, accounts = set(seeds), set(accounts)
    rel = store.account_clusters(wh, accounts)
    acct_code, acct_values = pd.factorize(rel["acct_id"])
    cl_code, cl_values = pd.factorize(rel["cluster_id"])
    in_acct = pd.Index(acct_values).isin(list(accounts))
    in_cl = pd.Index(cl_values).isin(list(seeds))
    while True:  # frontier steps over (account, cluster) rows, vectorised
        in_acct[acct_code[in_cl[cl_code]]] = True
        grown = in_cl.copy()
        grown[cl_code[in_acct[acct_code]]] = True
        if (grown == in_cl).all():
            break
        in_cl = grown
    return seeds | text_set(pd.Series(cl_values[in_cl]))
