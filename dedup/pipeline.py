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
"""

from __future__ import annotations

import logging
import time

import numpy as np
import pandas as pd

from dedup import store
from dedup.blocking import blocking_keys, candidate_pairs
from dedup.engine import (
    RECORD_COLUMNS,
    Scorer,
    best_weights,
    cluster_records,
    deterministic_pairs,
    ensure_columns,
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


def _score(scorer: Scorer, li: np.ndarray, ri: np.ndarray, bkey: np.ndarray, model: Model, progress: bool):
    """Order (record_id_l < record_id_r), deduplicate and score pair positions; returns the scores."""
    rid = scorer.records["record_id"].to_numpy(dtype=object)
    n = max(len(rid), 1)
    rank = np.empty(len(rid), dtype=np.int64)
    rank[np.argsort(rid, kind="stable")] = np.arange(len(rid))
    li, ri = np.asarray(li, dtype=np.int64), np.asarray(ri, dtype=np.int64)
    swap = rank[li] > rank[ri]
    lo, hi = np.where(swap, ri, li), np.where(swap, li, ri)
    _, first = np.unique(lo * n + hi, return_index=True)
    first = first[lo[first] != hi[first]]
    pos_l, pos_r = lo[first], hi[first]
    sc = scorer.score(pos_l, pos_r, model, progress=progress)
    sc["blocking_key"] = pd.Series(np.asarray(bkey, dtype=object)[first]).astype("string")
    sc["scored_at"] = store.now()
    return sc, pos_l, pos_r


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
    q = (
        f"select (select count(*) from {S}.records_norm), (select count(distinct cluster_id) from {S}.clusters), "
        f"(select sum(case when decision = 'match' then 1 else 0 end) from {S}.pair_scores), "
        f"(select sum(case when decision = 'possible' then 1 else 0 end) from {S}.pair_scores), "
        f"(select count(*) from {S}.pair_scores), (select count(*) from {S}.review_queue), "
        f"(select sum(case when crm_contact_id is null then 1 else 0 end) from {S}.golden_contacts), "
        f"(select sum(case when crm_contact_id is null then 0 else 1 end) from {S}.golden_contacts), "
        f"(select count(*) from {S}.account_contact_map)"
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
        prev_clusters = store.read_table(wh, "clusters")
        dec = store.decisions(wh)
        prev_map = store.read_table(wh, "account_contact_map")
        prev_golden = store.read_table(wh, "golden_contacts")
    excluded = _excluded(ensure_columns(raw))
    records = _norm_with_keys(raw[~excluded])
    del raw
    # staged now (and swapped in at the end) so the frame can be freed: memory at a million rows
    with connect(settings) as wh:
        wh.replace_table(S, "_records_norm_next", records)
        wh.replace_table(S, "_name_freq_next", name_frequencies(records))
    scorer = Scorer(records[list(RECORD_COLUMNS)], cfg)
    del records
    if view_pairs is not None:
        li, ri = scorer.positions(view_pairs["record_id_l"]), scorer.positions(view_pairs["record_id_r"])
        ok = (li >= 0) & (ri >= 0)
        li, ri, bkey = li[ok], ri[ok], view_pairs["blocking_key"].to_numpy(dtype=object)[ok]
    else:
        li, ri, bkey = candidate_pairs(scorer.records, cfg.max_block_size)
    extra = _extra_pairs(scorer.records, dec)
    el, er = scorer.positions(extra["record_id_l"]), scorer.positions(extra["record_id_r"])
    eok = (el >= 0) & (er >= 0)
    li, ri = np.concatenate([li, el[eok]]), np.concatenate([ri, er[eok]])
    bkey = np.concatenate([bkey, np.full(int(eok.sum()), "rule_or_decision", dtype=object)])
    model = scorer.fit(li, ri)
    scores, _, _ = _score(scorer, li, ri, bkey, model, progress)
    scorer.prep = {}  # the comparison arrays are not needed any more
    del li, ri, bkey

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
    stamp = store.now()
    clusters["first_seen_at"] = clusters["first_seen_at"].fillna(stamp)
    clusters = clusters.merge(scorer.records[["record_id", "row_hash"]], on="record_id")
    mapping, golden = resolve(
        scorer.records,
        clusters,
        best_weights(scores, clusters),
        prev_map,
        prev_golden,
        _set_primary(dec),
        policy,
    )
    review = _review(scores, clusters, verdicts, stamp)
    with connect(settings) as wh:
        _swap_in(wh, "_records_norm_next", "records_norm")
        _swap_in(wh, "_name_freq_next", "name_freq")
        wh.replace_table(S, "model_params", model.to_frame())
        wh.replace_table(S, "pair_scores", scores)
        wh.replace_table(S, "clusters", clusters)
        wh.replace_table(S, "account_contact_map", mapping)
        wh.replace_table(S, "golden_contacts", golden)
        wh.replace_table(S, "review_queue", review)
        if not wh.table_exists(S, "decisions"):
            wh.replace_table(S, "decisions", store.decisions(wh).astype("string"))
        totals = _totals(wh)
    return {
        "mode": "full",
        "policy": policy,
        **totals,
        "excluded_records": int(excluded.sum()),
        "changed_records": int(len(scorer.records)),
        "removed_records": 0,
        "affected_clusters": totals["clusters"],
        "pairs_scored": int(len(scores)),
        "links_refused": len(refused),
    }


# ---- incremental run --------------------------------------------------------------------------
def _partners_by_keys(wh: Warehouse, changed: pd.DataFrame, cfg: DedupConfig) -> pd.DataFrame:
    """Stored records sharing a blocking key with a changed record (blocks over the size cap skipped).

    One statement: per key family the changed records' keys whose stored block is small enough, then
    a single scan of records_norm for rows in any of those blocks.
    """
    fams = [c for c in changed.columns if c.startswith("k_")]
    keys = pd.concat(
        [pd.DataFrame({"fam": c, "id": changed[c].dropna().unique()}) for c in fams], ignore_index=True
    ).astype("string")
    if not len(keys):
        return pd.DataFrame(columns=changed.columns)
    wh.replace_table(S, "_keys", keys)
    ctes = ",\n".join(
        f"sz_{c} as (select {c} as k from {S}.records_norm where {c} in "
        f"(select id from {S}._keys where fam = '{c}') group by {c} having count(*) < {int(cfg.max_block_size)})"
        for c in fams
    )
    cond = " or ".join(f"{c} in (select k from sz_{c})" for c in fams)
    return wh.query_df(f"with {ctes}\nselect * from {S}.records_norm where {cond}")


def _incremental(settings: Settings, policy: str, cfg: DedupConfig, progress: bool) -> dict:
    with connect(settings) as wh:
        if not wh.table_exists(store.VIEW_SCHEMA, "dedup_person_records"):
            store.read_records(wh)  # raises the clear "run dbt first" error
        v = f"{store.VIEW_SCHEMA}.dedup_person_records"
        changed_raw = wh.query_df(
            f"select v.* from {v} v left join {S}.records_norm n on n.record_id = v.record_id "
            "where n.record_id is null or n.row_hash <> v.row_hash"
        )
        removed = set(
            wh.query_df(
                f"select n.record_id from {S}.records_norm n left join {v} v on v.record_id = n.record_id "
                "where v.record_id is null"
            )["record_id"].astype(str)
        )
        changed_raw = ensure_columns(changed_raw)
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

        # -- partners: stored records that may match a changed record
        view_pairs = None
        if wh.table_exists(store.VIEW_SCHEMA, "dedup_candidate_pairs") and changed_ids:
            t = store.write_ids(wh, changed_ids)
            view_pairs = wh.query_df(
                f"select record_id_l, record_id_r, blocking_key from {store.VIEW_SCHEMA}.dedup_candidate_pairs "
                f"where record_id_l in (select id from {t}) or record_id_r in (select id from {t})"
            )
            partner_ids = (set(view_pairs["record_id_l"]) | set(view_pairs["record_id_r"])) - changed_ids
            t = store.write_ids(wh, partner_ids)
            partners = store.rows_where_in(wh, "records_norm", "record_id", t)
        else:
            partners = _partners_by_keys(wh, changed, cfg) if changed_ids else changed.iloc[:0]
        # deterministic links and manual decisions touching changed records
        pair_dec = dec.dropna(subset=["record_id_l", "record_id_r"])
        want = set(pair_dec["record_id_l"]) | set(pair_dec["record_id_r"])
        crm_accts = changed.loc[changed["archtics_account_id_on_crm"].notna(), "archtics_account_id_on_crm"]
        arch_accts = changed.loc[changed["source"] == "archtics", "acct_id"].dropna()
        t = store.write_ids(wh, want)
        parts = [partners, store.rows_where_in(wh, "records_norm", "record_id", t)]
        if len(crm_accts):
            t = store.write_ids(wh, set(crm_accts.astype(str)))
            parts.append(store.rows_where_in(wh, "records_norm", "acct_id", t))
        if len(arch_accts):
            t = store.write_ids(wh, set(arch_accts.astype(str)))
            parts.append(store.rows_where_in(wh, "records_norm", "archtics_account_id_on_crm", t))
        others = pd.concat([p for p in parts if len(p)], ignore_index=True) if any(len(p) for p in parts) else None
        if others is not None:
            others = ensure_columns(others).drop_duplicates("record_id")
            others = others[~others["record_id"].isin(touched)]
        subset = pd.concat([changed, others], ignore_index=True) if others is not None else changed

        # -- score changed x (partners + changed)
        scorer = Scorer(subset[list(RECORD_COLUMNS)], cfg, name_freq=name_freq)
        focus = scorer.records["record_id"].isin(changed_ids).to_numpy(dtype=bool)
        if view_pairs is not None:
            li, ri = scorer.positions(view_pairs["record_id_l"]), scorer.positions(view_pairs["record_id_r"])
            ok = (li >= 0) & (ri >= 0)
            li, ri, bkey = li[ok], ri[ok], view_pairs["blocking_key"].to_numpy(dtype=object)[ok]
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
        stored_recs = store.rows_where_in(wh, "records_norm", "record_id", ta)
        stored_recs = ensure_columns(stored_recs)
        stored_recs = stored_recs[~stored_recs["record_id"].isin(touched)]
        affected = pd.concat([changed[list(RECORD_COLUMNS)], stored_recs[list(RECORD_COLUMNS)]], ignore_index=True)
        old_scores = wh.query_df(
            f"select * from {S}.pair_scores where record_id_l in (select id from {ta}) "
            f"and record_id_r in (select id from {ta})"
        )
        old_scores = old_scores[~(old_scores["record_id_l"].isin(touched) | old_scores["record_id_r"].isin(touched))]
        in_aff = new_scores["record_id_l"].isin(affected_ids) & new_scores["record_id_r"].isin(affected_ids)
        aff_scores = pd.concat([old_scores, new_scores[in_aff]], ignore_index=True)
        prev_map = store.rows_where_in(wh, "account_contact_map", "cluster_id", tc)
        prev_golden = store.rows_where_in(wh, "golden_contacts", "cluster_id", tc)

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
        with connect(settings) as wh:
            t = store.write_ids(wh, new_ids)
            clash = set(
                wh.query_df(
                    f"select distinct cluster_id from {S}.clusters where cluster_id in (select id from {t}) "
                    f"and cluster_id not in (select id from {tc})"
                )["cluster_id"].astype(str)
            )
        if not clash:
            break
        reserved |= clash
    stamp = store.now()
    clusters["first_seen_at"] = clusters["first_seen_at"].fillna(stamp)
    clusters = clusters.merge(ensure_columns(affected)[["record_id", "row_hash"]], on="record_id")
    mapping, golden = resolve(
        ensure_columns(affected),
        clusters,
        best_weights(aff_scores, clusters),
        prev_map,
        prev_golden,
        sp,
        policy,
    )
    review = _review(aff_scores, clusters, verdicts, stamp)

    with connect(settings) as wh:
        t_touch = store.write_ids(wh, touched, "_touched")
        store.delete_where_in(wh, "records_norm", ("record_id",), t_touch)
        if len(changed):
            wh.append_df(S, "records_norm", changed)
        store.delete_where_in(wh, "pair_scores", ("record_id_l", "record_id_r"), t_touch)
        if len(new_scores):
            cols = wh.query_df(f"select * from {S}.pair_scores where 1 = 0").columns
            wh.append_df(S, "pair_scores", new_scores[[c for c in cols if c in new_scores.columns]])
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
        for scratch in ("_ids", "_keys", "_clusters", "_affected", "_touched", "_accts"):
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
    """
    seeds, accounts = set(seeds), set(accounts)
    while True:
        tc = store.write_ids(wh, seeds, "_clusters")
        accounts |= set(
            wh.query_df(
                f"select distinct n.acct_id from {S}.clusters c join {S}.records_norm n on n.record_id = c.record_id "
                f"where c.cluster_id in (select id from {tc}) and n.acct_id is not null"
            )["acct_id"].astype(str)
        )
        ta = store.write_ids(wh, accounts, "_accts")
        more = set(
            wh.query_df(
                f"select distinct c.cluster_id from {S}.records_norm n join {S}.clusters c on c.record_id = n.record_id "
                f"where n.acct_id in (select id from {ta})"
            )["cluster_id"].astype(str)
        )
        if more <= seeds:
            return seeds
        seeds |= more


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
        wh.replace_table(S, table, df)
        return
    cols = wh.query_df(f"select * from {S}.{table} where 1 = 0").columns
    wh.append_df(S, table, df[[c for c in cols if c in df.columns]])
