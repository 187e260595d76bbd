"""The warehouse dedup step: dedup.* views -> kore_dedup.* tables.

Full run (first run, or ``full=True``): normalise everything, fit the model, score every candidate
pair, cluster, resolve, and store the state later runs need (normalised records with their blocking
keys, name frequencies, model parameters, pair scores).

Incremental run (state exists): only records that are new or whose ``row_hash`` changed are
normalised and scored -- against the stored records that share a blocking key with them (found by
SQL in the warehouse) and against each other. Only the clusters those records touch (their old
clusters, and the clusters of records they now match) are re-clustered and re-resolved; everything
else stays as stored. Writes are deletes + appends of the affected rows. Cost grows with the change,
not with the data set. Manual decisions are re-applied on every run (their records' clusters are
always re-resolved).

What stays O(warehouse) in an incremental run is DuckDB scanning: the ``row_hash`` diff against the
view, one read of records_norm for the changed records' neighbours (and one for cluster members not
read yet), the account closure and the pair_scores lookups -- each one statement, Arrow-fetched, in
one connection for the whole run. Python works on the changed records and their neighbourhood only.

Memory (full run at a million records): pairs are compared once (the model is fitted on those
levels, then they are scored), scores hold one-byte categoricals, the scores are written (and
freed) before resolving, and freed memory is handed back to the OS between stages.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import logging
import time

import numpy as np
import pandas as pd
import pyarrow as pa

from dedup import store
from dedup.blocking import blocking_keys, candidate_pairs
from dedup.engine import (
    RECORD_COLUMNS,
    Scorer,
    best_weights,
    cluster_records,
    deterministic_pairs,
    ensure_columns,
    in_ids,
    key_identity_pairs,
    name_frequencies,
    pair_keys,
)
from dedup.model import DedupConfig, Model
from dedup.normalize import normalize_records, with_display
from dedup.resolve import resolve
from kore.config import Settings
from kore.runlog import run_record
from kore.warehouse import Warehouse, connect

log = logging.getLogger(__name__)
S = store.SCHEMA
# what resolving and identity links read of the last run's results (not the golden values)
_PREV_MAP_COLS = "acct_id, crm_contact_key, cluster_id, is_primary, first_seen_at"
_PREV_GOLDEN_COLS = "cluster_id, contact_key, crm_contact_id"


def run_dedup(
    settings: Settings,
    policy: str = "default",
    full: bool = False,
    config: DedupConfig | None = None,
    progress: bool = True,
) -> dict:
    """Run the dedup step; returns counts for the run record and summary."""
    cfg = config or DedupConfig()
    with run_record(settings, "dedup") as rec:
        t0 = time.perf_counter()
        with connect(settings) as wh:
            has_state = all(wh.table_exists(S, t) for t in ("records_norm", "model_params", "clusters"))
            # state written by an older version (fewer record columns) cannot be extended: rebuild it
            has_state = has_state and set(RECORD_COLUMNS) <= set(
                wh.query_df(f"select * from {S}.records_norm where 1 = 0").columns
            )
        if full or not has_state:
            counts = _full(settings, policy, cfg, progress)
        else:
            counts = _incremental(settings, policy, cfg, progress)
        counts["seconds"] = round(time.perf_counter() - t0, 2)
        rec.rows_in = counts["records"]
        rec.rows_out = counts["clusters"]
        rec.detail = counts
    log.info("dedup %s", counts)
    return counts


# ---- shared helpers ---------------------------------------------------------------------------
def _latest_pair_verdicts(dec: pd.DataFrame) -> pd.DataFrame:
    """The latest pair decision wins (a later forbid overrides an earlier force, and back)."""
    kinds = ("force_match", "forbid_match", "review_accept", "review_reject")
    d = dec[dec["kind"].isin(kinds)].dropna(subset=["record_id_l", "record_id_r"])
    return d.sort_values("decided_at").drop_duplicates(["record_id_l", "record_id_r"], keep="last")


def _force_forbid(dec: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    v = _latest_pair_verdicts(dec)
    force = v[v["kind"].isin(["force_match", "review_accept"])][["record_id_l", "record_id_r"]]
    forbid = v[v["kind"].isin(["forbid_match", "review_reject"])][["record_id_l", "record_id_r"]]
    return v, force, forbid


def _set_primary(dec: pd.DataFrame) -> pd.DataFrame:
    sp = dec[dec["kind"] == "set_primary"].sort_values("decided_at")
    return sp.drop_duplicates("contact_key", keep="last")


def _norm_with_keys(raw: pd.DataFrame) -> pd.DataFrame:
    """Normalised records (contract columns, text) plus one ``k_<family>`` column per blocking key."""
    rec = ensure_columns(normalize_records(with_display(ensure_columns(raw))))
    for fam, key in blocking_keys(rec).items():
        rec["k_" + fam] = key.astype("string")
    return rec[[*RECORD_COLUMNS, *[c for c in rec.columns if c.startswith("k_")]]]


def _excluded(raw: pd.DataFrame) -> np.ndarray:
    flag = pd.to_numeric(raw["is_excluded_account_type"], errors="coerce").fillna(0).astype(int)
    return (flag == 1).to_numpy(dtype=bool)


def _ordered_pairs(
    scorer: Scorer, li: np.ndarray, ri: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Order (record_id_l < record_id_r) and deduplicate pair positions.

    Returns (first, pos_l, pos_r, inverse): ``first`` indexes the input pairs that were kept;
    ``inverse`` maps every input pair to its kept pair (-1: a record paired with itself).
    """
    rid = scorer.records["record_id"].to_numpy(dtype=object)
    n = max(len(rid), 1)
    rank = np.empty(len(rid), dtype=np.int64)
    rank[np.argsort(rid, kind="stable")] = np.arange(len(rid))
    del rid
    li, ri = np.asarray(li, dtype=np.int64), np.asarray(ri, dtype=np.int64)
    swap = rank[li] > rank[ri]
    lo, hi = np.where(swap, ri, li), np.where(swap, li, ri)
    _, first, inverse = np.unique(lo * n + hi, return_index=True, return_inverse=True)
    keep = lo[first] != hi[first]
    kept_index = np.where(keep, np.cumsum(keep) - 1, -1)
    first = first[keep]
    return first, lo[first], hi[first], kept_index[inverse.ravel()]


def _shared_text(s: pd.Series) -> np.ndarray:
    """Object array of a low-cardinality text column sharing one str per distinct value.

    Why: ``to_numpy(dtype=object)`` makes a new str object per row (GBs at millions of pairs).
    """
    cat = pd.Categorical(s)
    values = np.array([*cat.categories, None], dtype=object)
    return values[cat.codes]  # code -1 (null) takes the trailing None


def _tag_scores(sc: pd.DataFrame, bkey: np.ndarray) -> pd.DataFrame:
    """Blocking key and scoring time, as categoricals (one byte per pair, millions of pairs)."""
    sc["blocking_key"] = pd.Categorical(np.asarray(bkey, dtype=object))
    sc["scored_at"] = pd.Categorical.from_codes(np.zeros(len(sc), dtype=np.int8), categories=[store.now()])
    return sc


def _score(scorer: Scorer, li: np.ndarray, ri: np.ndarray, bkey: np.ndarray, model: Model, progress: bool):
    """Order (record_id_l < record_id_r), deduplicate and score pair positions; returns the scores."""
    first, pos_l, pos_r, _ = _ordered_pairs(scorer, li, ri)
    sc = scorer.score(pos_l, pos_r, model, progress=progress)
    return _tag_scores(sc, np.asarray(bkey, dtype=object)[first]), pos_l, pos_r


def _release_memory() -> None:
    """Hand memory freed by the last stage back to the OS (Arrow's pool and glibc's heap keep it).

    Why: a full run's stages each build large temporaries; without this the process keeps the
    high-water mark of every stage, and the next stage's allocations land on top of it.
    """
    gc.collect()
    pa.default_memory_pool().release_unused()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def _extra_pairs(records: pd.DataFrame, dec: pd.DataFrame) -> pd.DataFrame:
    """Deterministic (Archtics id on CRM) pairs and manually decided pairs: always scored."""
    kinds = ("force_match", "review_accept", "forbid_match", "review_reject")
    d = dec[dec["kind"].isin(kinds)].dropna(subset=["record_id_l", "record_id_r"])
    return pd.concat([deterministic_pairs(records), d[["record_id_l", "record_id_r"]].astype(str)], ignore_index=True)


def _review(scores: pd.DataFrame, clusters: pd.DataFrame, verdicts: pd.DataFrame, stamp: str) -> pd.DataFrame:
    cid = clusters.set_index("record_id")["cluster_id"]
    possible = scores[scores["decision"] == "possible"]
    decided = set(pair_keys(verdicts["record_id_l"], verdicts["record_id_r"]))
    left, right = possible["record_id_l"].map(cid).to_numpy(), possible["record_id_r"].map(cid).to_numpy()
    open_ = (left != right) & ~pair_keys(possible["record_id_l"], possible["record_id_r"]).isin(decided).to_numpy()
    review = possible[open_].copy()
    review["queued_at"] = stamp
    return review


def _totals(wh: Warehouse) -> dict:
    # one scan per table (pair_scores has millions of rows: its three figures come from one pass)
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
    names = (
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
    return {n: int(v or 0) for n, v in zip(names, r, strict=True)}


# ---- full run ---------------------------------------------------------------------------------
def _full(settings: Settings, policy: str, cfg: DedupConfig, progress: bool) -> dict:
    with connect(settings) as wh:
        raw = store.read_records(wh)
        view_pairs = store.read_candidate_pairs(wh)
        dec = store.decisions(wh)
    excluded = _excluded(ensure_columns(raw))
    records = _norm_with_keys(raw[~excluded])
    del raw
    # staged now (and swapped in at the end) so the frame can be freed: memory at a million rows
    with connect(settings) as wh:
        store.write_df(wh, "_records_norm_next", records, replace=True)
        store.write_df(wh, "_name_freq_next", name_frequencies(records), replace=True)
    scorer = Scorer(records[list(RECORD_COLUMNS)], cfg)
    del records
    _release_memory()
    if view_pairs is not None:
        li, ri = scorer.positions(view_pairs["record_id_l"]), scorer.positions(view_pairs["record_id_r"])
        ok = (li >= 0) & (ri >= 0)
        li, ri, bkey = li[ok], ri[ok], _shared_text(view_pairs["blocking_key"])[ok]
        del view_pairs
    else:
        li, ri, bkey = candidate_pairs(scorer.records, cfg.max_block_size)
    extra = _extra_pairs(scorer.records, dec)
    el, er = scorer.positions(extra["record_id_l"]), scorer.positions(extra["record_id_r"])
    eok = (el >= 0) & (er >= 0)
    li, ri = np.concatenate([li, el[eok]]), np.concatenate([ri, er[eok]])
    bkey = np.concatenate([bkey, np.full(int(eok.sum()), "rule_or_decision", dtype=object)])
    first, pos_l, pos_r, inverse = _ordered_pairs(scorer, li, ri)
    bkey = bkey[first]
    del li, ri, first, extra, el, er, eok
    _release_memory()
    # compare every candidate once: the model is fitted on these levels, then they are scored.
    # The fit sees the pairs as listed (a rule/decision pair that is also a candidate counts
    # twice), as when it compared them itself: the same model, the same decisions.
    levels = scorer.levels(pos_l, pos_r)
    inverse = inverse[inverse >= 0]
    model = scorer.fit(pos_l, pos_r, levels={f: lv[inverse] for f, lv in levels.items()})
    del inverse
    scores = _tag_scores(scorer.score(pos_l, pos_r, model, progress=progress, levels=levels), bkey)
    scorer.prep = {}  # the comparison arrays are not needed any more
    del levels, pos_l, pos_r, bkey
    _release_memory()
    with connect(settings) as wh:  # the last run's results: only now (they are large at a million rows)
        prev_clusters = store.read_table(wh, "clusters")
        prev_map = store.read_table(wh, "account_contact_map", columns=_PREV_MAP_COLS)
        prev_golden = store.read_table(wh, "golden_contacts", columns=_PREV_GOLDEN_COLS)

    verdicts, force, forbid = _force_forbid(dec)
    clusters, refused = cluster_records(
        scorer.records,
        scores,
        prev_clusters,
        cfg,
        force=force,
        forbid=forbid,
        deterministic=deterministic_pairs(scorer.records),
        identity=key_identity_pairs(scorer.records, prev_golden, prev_clusters),
    )
    del prev_clusters
    stamp = store.now()
    clusters["first_seen_at"] = clusters["first_seen_at"].fillna(stamp)
    clusters = clusters.merge(scorer.records[["record_id", "row_hash"]], on="record_id")
    review = _review(scores, clusters, verdicts, stamp)
    weights = best_weights(scores, clusters)
    n_records, n_scores = len(scorer.records), len(scores)
    # written before resolving (in the final swap's place) so the largest frame is freed first
    with connect(settings) as wh:
        store.write_df(wh, "_pair_scores_next", scores, replace=True)
    del scores
    _release_memory()
    mapping, golden = resolve(scorer.records, clusters, weights, prev_map, prev_golden, _set_primary(dec), policy)
    del scorer, prev_map, prev_golden, weights
    _release_memory()
    with connect(settings) as wh:
        _swap_in(wh, "_records_norm_next", "records_norm")
        _swap_in(wh, "_name_freq_next", "name_freq")
        _swap_in(wh, "_pair_scores_next", "pair_scores")
        wh.replace_table(S, "model_params", model.to_frame())
        store.write_df(wh, "clusters", clusters, replace=True)
        store.write_df(wh, "account_contact_map", mapping, replace=True)
        store.write_df(wh, "golden_contacts", golden, replace=True)
        store.write_df(wh, "review_queue", review, replace=True)
        if not wh.table_exists(S, "decisions"):
            wh.replace_table(S, "decisions", store.decisions(wh).astype("string"))
        totals = _totals(wh)
    return {
        "mode": "full",
        "policy": policy,
        **totals,
        "excluded_records": int(excluded.sum()),
        "changed_records": n_records,
        "removed_records": 0,
        "affected_clusters": totals["clusters"],
        "pairs_scored": n_scores,
        "links_refused": len(refused),
    }


# ---- incremental run --------------------------------------------------------------------------
_REC_COLS = ", ".join(RECORD_COLUMNS)


def _stored_neighbours(
    wh: Warehouse,
    changed: pd.DataFrame,
    cfg: DedupConfig,
    record_ids: set[str],
    acct_ids: set[str],
    crm_acct_ids: set[str],
    use_keys: bool = True,
) -> pd.DataFrame:
    """Stored records a changed record may link to, in ONE scan of records_norm.

    Rows sharing a blocking key with a changed record (blocks over the size cap skipped; only with
    ``use_keys``), rows named in ``record_ids`` (manual decisions, candidate-view partners), names of
    the Archtics accounts in ``acct_ids`` (accounts a changed CRM contact carries) and CRM contacts
    carrying an account in ``crm_acct_ids`` (accounts of changed Archtics names).
    Why one statement: each read of records_norm decompresses every column of a million rows
    (~0.4 s), whatever the number of rows it returns; the incremental run must stay small.
    """
    fams = [c for c in changed.columns if c.startswith("k_")] if use_keys else []
    keys = pd.concat(
        [pd.DataFrame({"fam": pd.Series(dtype="string"), "id": pd.Series(dtype="string")})]
        + [pd.DataFrame({"fam": c, "id": changed[c].dropna().unique()}) for c in fams],
        ignore_index=True,
    ).astype("string")
    fams = [c for c in fams if (keys["fam"] == c).any()]
    conds, ctes = [], []
    if fams:
        store.write_df(wh, "_keys", keys, replace=True)
        ctes = [
            f"sz_{c} as (select {c} as k from {S}.records_norm where {c} in "
            f"(select id from {S}._keys where fam = '{c}') group by {c} having count(*) < {int(cfg.max_block_size)})"
            for c in fams
        ]
        conds += [f"{c} in (select k from sz_{c})" for c in fams]
    for ids, name, column in (
        (record_ids, "_ids", "record_id"),
        (acct_ids, "_accts", "acct_id"),
        (crm_acct_ids, "_crm_accts", "archtics_account_id_on_crm"),
    ):
        if ids:
            t = store.write_ids(wh, ids, name)
            conds.append(f"{store._text(column)} in (select id from {t})")
    if not conds:
        return changed[list(RECORD_COLUMNS)].iloc[:0]
    with_ = ("with " + ",\n".join(ctes) + "\n") if ctes else ""
    return store.fetch_df(wh, f"{with_}select {_REC_COLS} from {S}.records_norm where {' or '.join(conds)}")


def _incremental(settings: Settings, policy: str, cfg: DedupConfig, progress: bool) -> dict:
    with connect(settings) as wh:
        if not wh.table_exists(store.VIEW_SCHEMA, "dedup_person_records"):
            store.read_records(wh)  # raises the clear "run dbt first" error
        v = f"{store.VIEW_SCHEMA}.dedup_person_records"
        # new or changed rows of the view, and stored records the view no longer has: one join
        diff = store.fetch_df(
            wh,
            f"select v.*, n.record_id as _kore_stored_id from {v} v full join {S}.records_norm n "
            "on n.record_id = v.record_id "
            "where v.record_id is null or n.record_id is null or n.row_hash <> v.row_hash",
        )
        gone = (diff["record_id"].isna() & diff["_kore_stored_id"].notna()).to_numpy(dtype=bool)
        store.check_records(diff.loc[~gone])
        removed = set(diff.loc[gone, "_kore_stored_id"].astype(str))
        changed_raw = ensure_columns(diff.loc[~gone].drop(columns="_kore_stored_id"))
        excl = _excluded(changed_raw)
        removed |= set(changed_raw.loc[excl, "record_id"])  # now excluded: leaves the CRM side
        changed = _norm_with_keys(changed_raw[~excl]) if (~excl).any() else _norm_with_keys(changed_raw.iloc[:0])
        changed_ids = set(changed["record_id"])
        touched = changed_ids | removed
        dec = store.decisions(wh)
        model = Model.from_frame(store.read_table(wh, "model_params"))
        name_freq = store.read_table(wh, "name_freq")
        if not touched and not len(dec):
            return {
                "mode": "incremental",
                "policy": policy,
                **_totals(wh),
                "excluded_records": int(excl.sum()),
                "changed_records": 0,
                "removed_records": 0,
                "affected_clusters": 0,
                "pairs_scored": 0,
                "links_refused": 0,
            }

        # -- partners: stored records that may match a changed record, plus the records of
        #    deterministic links and manual decisions touching changed records (one scan)
        view_pairs = None
        partner_ids: set[str] = set()
        if wh.table_exists(store.VIEW_SCHEMA, "dedup_candidate_pairs") and changed_ids:
            t = store.write_ids(wh, changed_ids)
            view_pairs = store.fetch_df(
                wh,
                f"select record_id_l, record_id_r, blocking_key from {store.VIEW_SCHEMA}.dedup_candidate_pairs "
                f"where record_id_l in (select id from {t}) or record_id_r in (select id from {t})",
            )
            partner_ids = (set(view_pairs["record_id_l"]) | set(view_pairs["record_id_r"])) - changed_ids
        pair_dec = dec.dropna(subset=["record_id_l", "record_id_r"])
        want = set(pair_dec["record_id_l"]) | set(pair_dec["record_id_r"])
        crm_accts = changed.loc[changed["archtics_account_id_on_crm"].notna(), "archtics_account_id_on_crm"]
        arch_accts = changed.loc[changed["source"] == "archtics", "acct_id"].dropna()
        others = _stored_neighbours(
            wh,
            changed,
            cfg,
            (partner_ids | want) - touched,
            set(crm_accts.astype(str)),
            set(arch_accts.astype(str)),
            use_keys=view_pairs is None and bool(changed_ids),
        )
        others = ensure_columns(others).drop_duplicates("record_id")
        others = others[~in_ids(others["record_id"], touched)]
        subset = pd.concat([changed[list(RECORD_COLUMNS)], others], ignore_index=True)

        # -- score changed x (partners + changed)
        scorer = Scorer(subset[list(RECORD_COLUMNS)], cfg, name_freq=name_freq)
        focus = in_ids(scorer.records["record_id"], changed_ids)
        if view_pairs is not None:
            li, ri = scorer.positions(view_pairs["record_id_l"]), scorer.positions(view_pairs["record_id_r"])
            ok = (li >= 0) & (ri >= 0)
            li, ri, bkey = li[ok], ri[ok], _shared_text(view_pairs["blocking_key"])[ok]
        else:
            li, ri, bkey = candidate_pairs(scorer.records, cfg.max_block_size, focus=focus)
        extra = _extra_pairs(scorer.records, dec)
        el, er = scorer.positions(extra["record_id_l"]), scorer.positions(extra["record_id_r"])
        eok = (el >= 0) & (er >= 0)
        eok &= focus[np.maximum(el, 0)] | focus[np.maximum(er, 0)]
        li, ri = np.concatenate([li, el[eok]]), np.concatenate([ri, er[eok]])
        bkey = np.concatenate([bkey, np.full(int(eok.sum()), "rule_or_decision", dtype=object)])
        new_scores, _, _ = _score(scorer, li, ri, bkey, model, progress)

        # -- affected clusters: old clusters of touched records, clusters of new match partners,
        #    clusters of records named in manual decisions (re-applied every run)
        linked = new_scores.loc[new_scores["decision"] == "match", ["record_id_l", "record_id_r"]]
        seeds = touched | set(linked["record_id_l"]) | set(linked["record_id_r"]) | want
        sp = _set_primary(dec)
        t = store.write_ids(wh, seeds)
        seed_clusters = set(
            store.rows_where_in(wh, "clusters", "record_id", t).get("cluster_id", pd.Series()).astype(str)
        )
        if len(sp):
            t = store.write_ids(wh, set(sp["acct_id"].astype(str)))
            seed_clusters |= set(
                store.rows_where_in(wh, "account_contact_map", "acct_id", t).get("cluster_id", pd.Series()).astype(str)
            )
        # CRM contacts carrying a KORE contact key join that key's cluster: re-resolve it too
        kore_keys = set(changed.loc[changed["source"] == "crm", "kore_external_key"].dropna().astype(str))
        if kore_keys:
            t = store.write_ids(wh, kore_keys)
            seed_clusters |= set(
                store.rows_where_in(wh, "golden_contacts", "contact_key", t).get("cluster_id", pd.Series()).astype(str)
            )
        seed_clusters = _account_closure(wh, seed_clusters, set(arch_accts.astype(str)))
        tc = store.write_ids(wh, seed_clusters, "_clusters")
        prev_clusters = store.rows_where_in(wh, "clusters", "cluster_id", tc)
        affected_ids = (set(prev_clusters["record_id"].astype(str)) | changed_ids) - removed
        ta = store.write_ids(wh, affected_ids, "_affected")
        # stored members of the affected clusters: most were read as partners already
        known = scorer.records[in_ids(scorer.records["record_id"], affected_ids - touched)]
        missing = affected_ids - touched - set(known["record_id"])
        parts = [changed[list(RECORD_COLUMNS)], known[list(RECORD_COLUMNS)]]
        if missing:
            tm = store.write_ids(wh, missing, "_missing")
            parts.append(ensure_columns(store.rows_where_in(wh, "records_norm", "record_id", tm, columns=_REC_COLS)))
        affected = pd.concat(parts, ignore_index=True)[list(RECORD_COLUMNS)]
        old_scores = store.fetch_df(
            wh,
            f"select * from {S}.pair_scores where record_id_l in (select id from {ta}) "
            f"and record_id_r in (select id from {ta})",
        )
        old_scores = old_scores[
            ~(in_ids(old_scores["record_id_l"], touched) | in_ids(old_scores["record_id_r"], touched))
        ]
        in_aff = in_ids(new_scores["record_id_l"], affected_ids) & in_ids(new_scores["record_id_r"], affected_ids)
        aff_scores = pd.concat([old_scores, new_scores[in_aff]], ignore_index=True)
        prev_map = store.rows_where_in(wh, "account_contact_map", "cluster_id", tc, columns=_PREV_MAP_COLS)
        prev_golden = store.rows_where_in(wh, "golden_contacts", "cluster_id", tc, columns=_PREV_GOLDEN_COLS)

        verdicts, force, forbid = _force_forbid(dec)
        identity = key_identity_pairs(affected, prev_golden, prev_clusters)
        reserved: set[str] = set()
        for _ in range(3):  # a new id may (very rarely) equal one held by an untouched cluster: retry
            clusters, refused = cluster_records(
                affected,
                aff_scores,
                prev_clusters,
                cfg,
                force=force,
                forbid=forbid,
                deterministic=deterministic_pairs(affected),
                reserved=reserved,
                identity=identity,
            )
            new_ids = set(clusters["cluster_id"].astype(str)) - seed_clusters
            t = store.write_ids(wh, new_ids)
            clash = set(
                store.fetch_df(
                    wh,
                    f"select distinct cluster_id from {S}.clusters where cluster_id in (select id from {t}) "
                    f"and cluster_id not in (select id from {tc})",
                )["cluster_id"].astype(str)
            )
            if not clash:
                break
            reserved |= clash
        stamp = store.now()
        affected = ensure_columns(affected)
        clusters["first_seen_at"] = clusters["first_seen_at"].fillna(stamp)
        clusters = clusters.merge(affected[["record_id", "row_hash"]], on="record_id")
        mapping, golden = resolve(
            affected,
            clusters,
            best_weights(aff_scores, clusters),
            prev_map,
            prev_golden,
            sp,
            policy,
        )
        review = _review(aff_scores, clusters, verdicts, stamp)

        t_touch = store.write_ids(wh, touched, "_touched")
        store.delete_where_in(wh, "records_norm", ("record_id",), t_touch)
        _append(wh, "records_norm", changed)
        store.delete_where_in(wh, "pair_scores", ("record_id_l", "record_id_r"), t_touch)
        _append(wh, "pair_scores", new_scores)
        t_aff = store.write_ids(wh, affected_ids | removed, "_affected")
        tc = store.write_ids(wh, seed_clusters, "_clusters")
        store.delete_where_in(wh, "clusters", ("record_id",), t_aff)
        _append(wh, "clusters", clusters)
        store.delete_where_in(wh, "account_contact_map", ("cluster_id",), tc)
        # an account is mapped once: drop any row of a re-mapped account left in another cluster
        tm = store.write_ids(wh, set(mapping["acct_id"].dropna().astype(str)), "_accts")
        store.delete_where_in(wh, "account_contact_map", ("acct_id",), tm)
        _append(wh, "account_contact_map", mapping)
        store.delete_where_in(wh, "golden_contacts", ("cluster_id",), tc)
        _append(wh, "golden_contacts", golden)
        store.delete_where_in(wh, "review_queue", ("record_id_l", "record_id_r"), t_aff)
        _append(wh, "review_queue", review)
        for scratch in ("_ids", "_keys", "_clusters", "_affected", "_touched", "_accts", "_crm_accts", "_missing"):
            if wh.table_exists(S, scratch):
                wh.execute(f"drop table {S}.{scratch}")
        totals = _totals(wh)
    return {
        "mode": "incremental",
        "policy": policy,
        **totals,
        "excluded_records": int(excl.sum()),
        "changed_records": len(changed_ids),
        "removed_records": len(removed),
        "affected_clusters": len(seed_clusters),
        "pairs_scored": int(len(new_scores)),
        "links_refused": len(refused),
    }


def _account_closure(wh: Warehouse, seeds: set[str], accounts: set[str]) -> set[str]:
    """The seed clusters plus every cluster holding a name of an account they touch (to a fixpoint).

    Why: an account stands for its primary name. When an account's names sit in several clusters,
    re-resolving only some of them would take a secondary name as the account's record and map the
    account a second time, next to the row its untouched cluster keeps.
    How: one statement reads the (account, cluster) rows of the given ``accounts`` and of every
    account whose names sit in more than one cluster (the only ones that can widen the set); the
    fixpoint is then found in memory (no round trip per step of a chain of accounts).
    """
    seeds, accounts = set(seeds), set(accounts)
    ta = store.write_ids(wh, accounts, "_accts")
    rel = store.fetch_df(
        wh,
        f"with ac as (select distinct n.acct_id, c.cluster_id from {S}.records_norm n "
        f"join {S}.clusters c on c.record_id = n.record_id where n.acct_id is not null), "
        "multi as (select acct_id from ac group by acct_id having count(*) > 1) "
        f"select acct_id, cluster_id from ac where acct_id in (select acct_id from multi) "
        f"or acct_id in (select id from {ta})",
    ).astype(str)
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
    return seeds | set(cl_values[in_cl].astype(str))


def _swap_in(wh: Warehouse, staged: str, table: str) -> None:
    """Replace kore_dedup.<table> by the staged table (rename, no copy)."""
    if wh.table_exists(S, table):
        wh.execute(f"drop table {S}.{table}")
    if wh.target == "duckdb":
        wh.execute(f"alter table {S}.{staged} rename to {table}")
    else:
        wh.execute(f"exec sp_rename '{S}.{staged}', '{table}'")


def _append(wh: Warehouse, table: str, df: pd.DataFrame) -> None:
    """Append matching columns (the stored table's column set and order)."""
    if not len(df):
        return
    if not wh.table_exists(S, table):
        store.write_df(wh, table, df, replace=True)
        return
    cols = store.fetch_df(wh, f"select * from {S}.{table} where 1 = 0").columns
    store.write_df(wh, table, df[[c for c in cols if c in df.columns]])
