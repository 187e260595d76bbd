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
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from dedup import account_table, holds, pairs, store
from dedup.arrays import in_ids, text_set
from dedup.decisions import account_verdicts, approved_moves, force_forbid, review_queue, set_primary
from dedup.engine import (
    Scorer,
    account_linked,
    best_weights,
    carries_evidence,
    cluster_records,
    deterministic_pairs,
    ensure_columns,
    key_identity_pairs,
    name_frequencies,
    tf_values,
)
from dedup.model import DedupConfig, Model
from dedup.neighbourhood import (
    Affected,
    Delta,
    Partners,
    find_affected,
    find_partners,
    read_delta,
    stored_keys_current,
)
from dedup.parents import attach, crm_owned
from dedup.records import excluded, norm_with_keys
from dedup.resolve import resolve
from kore.config import Settings
from kore.contracts.person_fields import PERSON_RECORD_COLUMNS
from kore.landing import require_landing_complete
from kore.runlog import run_record
from kore.warehouse import Warehouse, connect

log = logging.getLogger(__name__)
COLS = list(PERSON_RECORD_COLUMNS)
CLASH_RETRIES = 3  # a new cluster id may (very rarely) equal one an untouched cluster holds: retry


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
        require_landing_complete(settings, "kore dedup run")
        t0 = time.perf_counter()
        with connect(settings) as wh:
            has_state = store.has_state(wh, cfg.cannot_link_threshold)
            # state stored under other comparison levels or blocking keys: re-fit everything once
            has_state = has_state and Model.from_frame(store.read_table(wh, "model_params")).fits_comparisons()
            # ... or under other blocking-key codes: every stored record's keys are made again
            has_state = has_state and stored_keys_current(wh)
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


# ---- shared steps -------------------------------------------------------------------------------
@contextlib.contextmanager
def _stage(times: dict[str, float], name: str):
    """Time one stage of a run into ``times`` (seconds; reported as the run's ``times``)."""
    t0 = time.perf_counter()
    try:
        yield
    finally:
        times[name] = round(time.perf_counter() - t0, 2)


def _release_memory() -> None:
    """Hand memory freed by the last stage back to the OS (Arrow's pool and glibc's heap keep it).

    Why: a full run's stages each build large temporaries; without this the process keeps the
    high-water mark of every stage, and the next stage's allocations land on top of it.
    """
    gc.collect()
    pa.default_memory_pool().release_unused()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def _cluster(
    records: pd.DataFrame,
    scores: pd.DataFrame,
    prev_clusters: pd.DataFrame,
    prev_golden: pd.DataFrame,
    dec: pd.DataFrame,
    cfg: DedupConfig,
    reserved: set[str] | None = None,
    positions: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[pd.DataFrame, list[tuple[str, str, str]]]:
    """Cluster scored records under the manual decisions, deterministic links and identity links
    (``positions``: the scores' pair positions into ``records``, see ``cluster_records``)."""
    _, force, forbid = force_forbid(dec)
    return cluster_records(
        records,
        scores,
        prev_clusters,
        cfg,
        force=force,
        forbid=forbid,
        deterministic=deterministic_pairs(records),
        reserved=reserved,
        identity=key_identity_pairs(records, prev_golden, prev_clusters),
        positions=positions,
    )


def _stamped(clusters: pd.DataFrame, records: pd.DataFrame, stamp: str) -> pd.DataFrame:
    """New clusters first seen now; every member with its ``row_hash`` (what the next run diffs)."""
    clusters["first_seen_at"] = clusters["first_seen_at"].fillna(stamp)
    return clusters.merge(records[["record_id", "row_hash"]], on="record_id")


def _counts(mode: str, policy: str, totals: dict, **figures: int) -> dict:
    """The run summary: table totals plus this run's figures (zero when not given)."""
    names = ("excluded_records", "changed_records", "removed_records", "affected_clusters")
    return {
        "mode": mode,
        "policy": policy,
        **totals,
        **dict.fromkeys((*names, "pairs_scored", "links_refused"), 0),
        **figures,
    }


@dataclass
class CrmInputs:
    """What account matching and ranking read besides the person records (small: CRM accounts,
    contact parents, ticketing facts per account, the protected list, the last run's owned flags)."""

    accounts: pd.DataFrame
    parents: pd.Series
    facts: pd.DataFrame
    protected: set[str]
    owned: pd.Series


def _crm_inputs(wh: Warehouse) -> CrmInputs:
    return CrmInputs(
        accounts=store.read_crm_accounts(wh),
        parents=store.read_crm_parents(wh),
        facts=store.read_account_facts(wh),
        protected=store.protected_keys(wh),
        owned=store.owned_contact_keys(wh),
    )


def _attach_accounts(golden: pd.DataFrame, records: pd.DataFrame, crm_in: CrmInputs, dec: pd.DataFrame) -> pd.DataFrame:
    """Each golden contact's CRM account (``dedup.parents``): reuse the CRM's, keep CRM contacts' parents."""
    crm = records[records["source"] == "crm"]
    keys = crm["kore_external_key"] if "kore_external_key" in crm else pd.Series(pd.NA, index=crm.index)
    crm_keys = pd.Series(keys.to_numpy(), index=crm["crm_contact_id"].astype(str)).groupby(level=0).first()
    owned = crm_owned(golden, crm_keys, crm_in.owned)
    return attach(golden, crm_in.accounts, crm_in.parents, owned, approved_moves(dec), account_verdicts(dec))


def _account_tables(
    wh: Warehouse,
    crm_in: CrmInputs,
    stamp: str,
    times: dict[str, float],
    touched: set[str] | None = None,
    reach: holds.Reach | None = None,
    proposed: set[str] | None = None,
) -> None:
    """golden_accounts, push_holds and account_review (``dedup.account_table``, ``dedup.holds``).

    A full run (``touched`` None) computes every hold and rebuilds ``golden_accounts`` whole; an
    incremental run recomputes the holds its change can reach (``reach``, see ``dedup.holds``) and
    rewrites only the accounts whose inputs can have changed, so its cost follows the change:
    ``touched`` (the account keys of the clusters it re-resolved, before and after), the accounts of
    contacts whose hold was placed or released, every CRM account KORE reuses whose pulled row
    changed and the protected ones (the list may have changed); and only the account_review rows of
    the re-resolved contacts (``reach.contact_keys``) and of the accounts proposed to them before or
    after (``proposed``). The results equal a full rebuild's (tests)."""
    with _stage(times, "accounts.holds"):
        if touched is None or reach is None:
            held, flipped = text_set(holds.rebuild(wh, stamp)["contact_key"]), None
        else:
            held, flipped = holds.update(wh, stamp, reach)
    with _stage(times, "accounts.golden_accounts"):
        versions = crm_account_versions(crm_in.accounts)
        changed = None if touched is None else store.changed_crm_accounts(wh, versions)
        if flipped is None or changed is None or not wh.table_exists(store.SCHEMA, "golden_accounts"):
            golden = store.read_table(wh, "golden_contacts", columns=account_table.GOLDEN_COLUMNS)
            store.write_df(
                wh,
                "golden_accounts",
                store.text_columns(account_table.golden_accounts(golden, crm_in.accounts, held, crm_in.protected)),
                replace=True,
            )
        else:
            rebuild = _accounts_to_rebuild(wh, touched or set(), flipped, crm_in.protected, changed)
            keys = store.write_ids(wh, rebuild, "_account_keys")
            golden = store.read_table(
                wh,
                "golden_contacts",
                where=f"where account_key in (select id from {keys})",
                columns=account_table.GOLDEN_COLUMNS,
            )
            accounts = account_table.golden_accounts(golden, crm_in.accounts, held, crm_in.protected)
            store.replace_rows(wh, "golden_accounts", ("account_key",), keys, store.text_columns(accounts))
        store.write_df(wh, "crm_account_versions", versions, replace=True)
    with _stage(times, "accounts.review"):
        if reach is None or proposed is None or not wh.table_exists(store.SCHEMA, "account_review"):
            review = account_table.account_review(
                store.read_table(
                    wh, "golden_contacts", where=account_table.REVIEW_ROWS, columns=account_table.REVIEW_COLUMNS
                ),
                stamp,
            )
            store.write_df(wh, "account_review", store.text_columns(review), replace=True)
        else:
            _update_account_review(wh, stamp, reach.contact_keys, proposed)


def _update_account_review(wh: Warehouse, stamp: str, contacts: set[str], proposed: set[str]) -> None:
    """Rewrite the account_review rows a change of the golden rows of ``contacts`` can move: each
    account match row is one proposed account's (from every contact proposed to it), each move row
    one contact's. Why: the whole queue was read and rewritten on every run (~0.5 s at 1M accounts)."""
    tk = store.write_ids(wh, contacts, "_review_contacts")
    ta = store.write_ids(wh, proposed, "_review_accounts")
    mine = f"(proposed_account_key in (select id from {ta}) or contact_key in (select id from {tk}))"
    golden = store.read_table(
        wh,
        "golden_contacts",
        where=f"where ({account_table.REVIEW_FILTER}) and {mine}",
        columns=account_table.REVIEW_COLUMNS,
    )
    review = account_table.account_review(golden, stamp)
    match = (review["kind"] == "account_match").to_numpy(dtype=bool)
    keep = np.where(match, in_ids(review["proposed_account_key"], proposed), in_ids(review["contact_key"], contacts))
    wh.execute(
        f"delete from {store.SCHEMA}.account_review where (kind = 'account_match' and proposed_account_key in "
        f"(select id from {ta})) or (kind = 'contact_move' and contact_key in (select id from {tk}))"
    )
    store.append(wh, "account_review", store.text_columns(review[keep]))


def _dirty_names(wh: Warehouse, delta: Delta, aff: Affected) -> pd.DataFrame:
    """(first_name, last_name) of the records this run re-resolves, as they are now and as they were
    stored (read before the run writes): the same-name hold pairs that can have changed."""
    t = store.write_ids(wh, delta.touched, "_touched")
    before = store.rows_where_in(wh, "records_norm", "record_id", t, columns="first_name, last_name")
    now = aff.records[["first_name", "last_name"]]
    names = pd.concat([before, now], ignore_index=True).dropna().astype(str).drop_duplicates()
    return names.reset_index(drop=True)


def _accounts_to_rebuild(
    wh: Warehouse, touched: set[str], flipped: set[str], protected: set[str], changed_crm: set[str]
) -> set[str]:
    """The account keys whose golden_accounts row an incremental run recomputes (``_account_tables``):
    ``touched``, the protected ones (listed now or when last built), those of contacts whose hold
    was placed or released (``flipped``) and those reusing a CRM account whose pulled row changed
    (``changed_crm``: CRM ids)."""
    flips = store.write_ids(wh, flipped, "_hold_flips")
    crm = store.write_ids(wh, changed_crm, "_crm_accounts_changed")
    keys = set(touched) | set(protected)
    keys |= set(store.fetch_df(
        wh, f"select account_key from {store.SCHEMA}.golden_contacts "
        f"where account_key is not null and contact_key in (select id from {flips})")["account_key"].astype(str))  # fmt: skip
    keys |= set(store.fetch_df(
        wh, f"select account_key from {store.SCHEMA}.golden_accounts "
        f"where crm_account_id in (select id from {crm}) or cast(is_protected as varchar) = '1'")["account_key"].astype(str))  # fmt: skip
    return {k for k in keys if k}


def crm_account_versions(accounts: pd.DataFrame) -> pd.DataFrame:
    """One row per CRM account KORE may reuse: its id and a hash of the pulled row (``version``).
    An incremental run rebuilds the golden accounts of the CRM accounts whose version changed (or
    that appeared or went), not of every reused one: at a million accounts that was ~34k accounts
    rebuilt on every run whatever changed."""
    if not len(accounts):
        return pd.DataFrame({"crm_id": pd.Series(dtype="string"), "version": pd.Series(dtype="string")})
    rows = accounts.drop_duplicates("crm_id").reset_index(drop=True)
    return pd.DataFrame(
        {"crm_id": rows["crm_id"].astype(str), "version": account_table.row_hashes(rows.astype(object))}
    ).astype("string")


# ---- full run -----------------------------------------------------------------------------------
def _full(settings: Settings, policy: str, cfg: DedupConfig, progress: bool) -> dict:
    with store.Writes() as writes:  # a run that fails waits for its writes before it raises
        return _full_run(settings, policy, cfg, progress, writes)


def _full_run(settings: Settings, policy: str, cfg: DedupConfig, progress: bool, writes: store.Writes) -> dict:
    times: dict[str, float] = {}
    with _stage(times, "read"), connect(settings) as wh:
        raw = store.read_records(wh)
        dec = store.decisions(wh)
    with _stage(times, "normalise"):
        excl = excluded(ensure_columns(raw))
        records = norm_with_keys(raw[~excl])
        del raw
        scorer = _stage_records(settings, records, cfg, writes)
        keys = records[[c for c in records.columns if c.startswith("k_")]]  # made once, blocked on below
        del records
        _release_memory()
    with _stage(times, "candidates"):
        pos_l, pos_r, bkey, inverse = _full_candidates(scorer, dec, cfg, keys)
        del keys
        _release_memory()
    with _stage(times, "fit_and_score"):
        model, scores = _fit_and_score(scorer, pos_l, pos_r, bkey, inverse, progress)
        positions = (pos_l.astype(np.int32), pos_r.astype(np.int32))  # the scores' rows, for clustering
        del pos_l, pos_r, bkey, inverse
        _release_memory()
    with _stage(times, "cluster"):
        with connect(settings) as wh:  # the last run's results: only now (they are large at a million rows)
            prev_clusters, prev_map, prev_golden = store.read_previous(wh)
            crm_in = _crm_inputs(wh)
        clusters, refused = _cluster(scorer.records, scores, prev_clusters, prev_golden, dec, cfg, positions=positions)
        del prev_clusters
        stamp = store.now()
        clusters = _stamped(clusters, scorer.records, stamp)
        review = review_queue(scores, clusters, force_forbid(dec)[0], stamp)
        weights = best_weights(scores, clusters)
        evidence = carries_evidence(scores, account_linked(scorer.records, *positions), cfg)
    n_records, n_scores = len(scorer.records), len(scores)
    # handed to the writer before resolving (in the final swap's place), so the largest frame is freed
    # first, and written while resolving runs (store.WriteBehind)
    with _stage(times, "write_scores"):
        writes.add(settings, {"_pair_scores_next": scores[evidence]})
    del scores, evidence, positions
    _release_memory()
    with _stage(times, "resolve"):
        mapping, golden = resolve(
            scorer.records,
            clusters,
            weights,
            prev_map,
            prev_golden,
            set_primary(dec),
            policy,
            crm_in.facts,
            crm_in.protected,
        )
        golden = _attach_accounts(golden, scorer.records, crm_in, dec)
        del scorer, prev_map, prev_golden, weights
        _release_memory()
    with _stage(times, "wait_for_writes"):
        writes.wait()
    with _stage(times, "write_and_accounts"), connect(settings) as wh:
        tables = {"clusters": clusters, "account_contact_map": mapping, "golden_contacts": golden}
        with wh.transaction():  # every output or none: a kill here leaves the last run's tables
            store.write_full_run(wh, model.to_frame(), {**tables, "review_queue": review}, cfg.cannot_link_threshold)
            _account_tables(wh, crm_in, stamp, times)
        totals = store.totals(wh)
    log.info("dedup full run stage seconds %s", times)
    return {
        **_counts(
            "full",
            policy,
            totals,
            excluded_records=int(excl.sum()),
            changed_records=n_records,
            affected_clusters=totals["clusters"],
            pairs_scored=n_scores,
            links_refused=len(refused),
        ),
        # the prior the data's own matches imply (``matched_prior``): the decision threshold's context
        "prior_log2_odds": round(model.prior_log2, 3),
        "times": times,
    }


def _stage_records(settings: Settings, records: pd.DataFrame, cfg: DedupConfig, writes: store.Writes) -> Scorer:
    """Stage the normalised records and name frequencies (swapped in at the end of the run, so the
    frame can be freed now: memory at a million rows; written while the run goes on); returns the
    scorer over them."""
    writes.add(settings, {"_records_norm_next": records, "_name_freq_next": name_frequencies(records)})
    return Scorer(records[COLS], cfg)


def _full_candidates(
    scorer: Scorer, dec: pd.DataFrame, cfg: DedupConfig, keys: pd.DataFrame | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Every pair to score, once and ordered: (pos_l, pos_r, blocking key, inverse) -- ``inverse``
    maps the pairs as listed (a rule/decision pair that is also a candidate twice) to the kept ones.
    The engine blocks by ``dedup.blocking.BLOCKING_KEYS`` itself; the dbt view generated from the
    same keys is for people to inspect, never read here (at a million accounts DuckDB took 52 s to
    compute it under the connection's memory limit, the engine 23 s). ``keys``: the records' blocking
    keys as ``norm_with_keys`` made them (row for row with the scorer's records)."""
    li, ri, bkey = pairs.candidates(scorer, cfg.max_block_size, keys=keys)
    li, ri, bkey = pairs.with_extra_pairs(scorer, dec, li, ri, bkey)
    first, pos_l, pos_r, inverse = pairs.ordered_pairs(scorer, li, ri)
    return pos_l, pos_r, bkey[first], inverse


def _fit_and_score(
    scorer: Scorer, pos_l: np.ndarray, pos_r: np.ndarray, bkey: np.ndarray, inverse: np.ndarray, progress: bool
) -> tuple[Model, pd.DataFrame]:
    """Compare every candidate once: the model is fitted on these levels, then they are scored.

    The fit sees the pairs as listed (a rule/decision pair that is also a candidate counts twice), as
    when it compared them itself: the same model, the same decisions.
    """
    levels = scorer.levels(pos_l, pos_r)
    inverse = inverse[inverse >= 0]
    # the listed pairs' positions too: the household fit reads each pair's first names
    model = scorer.fit(pos_l[inverse], pos_r[inverse], levels={f: lv[inverse] for f, lv in levels.items()})
    del inverse
    model, scores = scorer.score_calibrated(pos_l, pos_r, model, progress=progress, levels=levels)
    scores = pairs.tag_scores(scores, bkey)
    scorer.prep = {}  # the comparison arrays are not needed any more
    return model, scores


# ---- incremental run ----------------------------------------------------------------------------
def _incremental(settings: Settings, policy: str, cfg: DedupConfig, progress: bool) -> dict:
    times: dict[str, float] = {}
    with connect(settings) as wh:
        with _stage(times, "read_delta"):
            delta = read_delta(wh)
            dec = store.decisions(wh)
            model = Model.from_frame(store.read_table(wh, "model_params"))
        if not delta.touched and not len(dec):
            return _counts("incremental", policy, store.totals(wh), excluded_records=delta.excluded)
        # one transaction from here: every output or none (a kill leaves the last run's tables), and the
        # run's scratch id tables are never committed on their own (each was a commit, ~20 a run)
        with wh.transaction():
            with _stage(times, "partners"):
                partners = find_partners(wh, delta, dec, cfg.max_block_size)
                # only the frequencies of the values these records hold (the stored table has every value)
                name_freq = store.name_freq_for(wh, tf_values(partners.records))
                scorer = Scorer(partners.records, cfg, name_freq=name_freq)
            with _stage(times, "score"):
                new_scores, evidence = _score_changed(scorer, delta, partners, dec, model, cfg, progress)
            with _stage(times, "affected"):
                aff = find_affected(wh, delta, partners, scorer.records, new_scores, dec)
            with _stage(times, "cluster"):
                clusters, refused = _recluster(wh, aff, dec, cfg)
                stamp = store.now()
                records = ensure_columns(aff.records)
                clusters = _stamped(clusters, records, stamp)
                weights = best_weights(aff.scores, clusters)
            with _stage(times, "resolve"):
                crm_in = _crm_inputs(wh)
                mapping, golden = resolve(
                    records,
                    clusters,
                    weights,
                    aff.prev_map,
                    aff.prev_golden,
                    set_primary(dec),
                    policy,
                    crm_in.facts,
                    crm_in.protected,
                )
                golden = _attach_accounts(golden, records, crm_in, dec)
                review = review_queue(
                    pd.concat([aff.scores, aff.reaching_scores], ignore_index=True),
                    pd.concat([clusters, aff.outside_clusters], ignore_index=True),
                    force_forbid(dec)[0],
                    stamp,
                )
            with _stage(times, "accounts.names"):
                reach = holds.Reach(
                    contact_keys=_before_and_after(aff.prev_golden, golden, "contact_key"),
                    records=aff.ids | delta.removed,
                    dirty_names=_dirty_names(wh, delta, aff),
                )
            with _stage(times, "write_changes"):
                _write_changes(wh, delta, aff, new_scores[evidence], clusters, mapping, golden, review)
            touched = _before_and_after(aff.prev_golden, golden, "account_key")
            proposed = _before_and_after(aff.prev_golden, golden, "proposed_account_key")
            _account_tables(wh, crm_in, stamp, times, touched, reach, proposed)
            store.drop_scratch(wh)  # the id tables of this run (the account step writes some too)
        totals = store.totals(wh)
    log.info("dedup incremental run stage seconds %s", times)
    return {
        **_counts(
            "incremental",
            policy,
            totals,
            excluded_records=delta.excluded,
            changed_records=len(delta.changed_ids),
            removed_records=len(delta.removed),
            affected_clusters=len(aff.seed_clusters),
            pairs_scored=int(len(new_scores)),
            links_refused=len(refused),
        ),
        "times": times,
    }


def _before_and_after(before: pd.DataFrame, after: pd.DataFrame, column: str) -> set[str]:
    """The values of ``column`` in the re-resolved clusters' golden rows as stored and as resolved now."""
    return text_set(before.get(column, pd.Series())) | text_set(after.get(column, pd.Series()))


def _score_changed(
    scorer: Scorer,
    delta: Delta,
    partners: Partners,
    dec: pd.DataFrame,
    model: Model,
    cfg: DedupConfig,
    progress: bool,
) -> tuple[pd.DataFrame, np.ndarray]:
    """Score the changed records against their partners and each other, with the stored model;
    returns the scores and which of them carry evidence (``carries_evidence``: the ones stored)."""
    focus = in_ids(scorer.records["record_id"], delta.changed_ids)
    li, ri, bkey = pairs.candidates(scorer, cfg.max_block_size, focus=focus, keys=partners.keys)
    li, ri, bkey = pairs.with_extra_pairs(scorer, dec, li, ri, bkey, focus=focus)
    scores, pos_l, pos_r = pairs.score(scorer, li, ri, bkey, model, progress)
    return scores, carries_evidence(scores, account_linked(scorer.records, pos_l, pos_r), cfg)


def _recluster(
    wh: Warehouse, aff: Affected, dec: pd.DataFrame, cfg: DedupConfig
) -> tuple[pd.DataFrame, list[tuple[str, str, str]]]:
    """Cluster the affected records; new cluster ids never take one an untouched cluster holds."""
    reserved: set[str] = set()
    for _ in range(CLASH_RETRIES):
        clusters, refused = _cluster(aff.records, aff.scores, aff.prev_clusters, aff.prev_golden, dec, cfg, reserved)
        new_ids = text_set(clusters["cluster_id"]) - aff.seed_clusters
        clash = store.clusters_held_elsewhere(wh, new_ids, aff.clusters_table)
        if not clash:
            break
        reserved |= clash
    return clusters, refused


def _write_changes(
    wh: Warehouse,
    delta: Delta,
    aff: Affected,
    new_scores: pd.DataFrame,
    clusters: pd.DataFrame,
    mapping: pd.DataFrame,
    golden: pd.DataFrame,
    review: pd.DataFrame,
) -> None:
    """Deletes + appends of the touched records' and the affected clusters' rows (``new_scores``: the
    run's scored pairs that carry evidence, ``dedup.engine.carries_evidence``)."""
    t_touch = store.write_ids(wh, delta.touched, "_touched")
    store.replace_rows(wh, "records_norm", ("record_id",), t_touch, delta.changed)
    store.replace_rows(wh, "pair_scores", ("record_id_l", "record_id_r"), t_touch, new_scores)
    t_aff = store.write_ids(wh, aff.ids | delta.removed, "_affected")
    tc = store.write_ids(wh, aff.seed_clusters, "_clusters")
    store.replace_rows(wh, "clusters", ("record_id",), t_aff, clusters)
    store.delete_where_in(wh, "account_contact_map", ("cluster_id",), tc)
    # an account is mapped once: drop any row of a re-mapped account left in another cluster
    tm = store.write_ids(wh, text_set(mapping["acct_id"]), "_accts")
    store.replace_rows(wh, "account_contact_map", ("acct_id",), tm, mapping)
    store.replace_rows(wh, "golden_contacts", ("cluster_id",), tc, golden)
    # a queued pair of an unchanged member and a cluster the run left alone stays: its score, both
    # clusters (the member's cannot join an untouched one) and its verdicts (decided records are
    # always re-resolved) are as they were
    store.replace_pairs(wh, "review_queue", t_aff, t_touch, review)
