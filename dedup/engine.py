"""The in-memory dedup engine: scoring, model fitting, clustering over pandas frames.

Pure with respect to I/O: the warehouse step (``pipeline``), file mode (``filemode``) and the
benchmark all feed frames in and take frames out. Record frames use the column names of
``dedup.dedup_person_records`` (``kore.contracts.person_fields``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import pyarrow.compute as pc
from rich.progress import Progress

from dedup.arrays import arrow_text, chunked, in_ids, member, take_text, text_series, whole_numbers
from dedup.cluster import assign_cluster_ids, constrained_components
from dedup.compare import FIELD_NAMES, TF_FIELDS, compare_pairs, prepare
from dedup.em import candidate_match_share
from dedup.household import (
    established_names,
    fit_household_odds,
    fit_renamed_both_odds,
    fit_renamed_odds,
    name_counts,
    sibling_levels,
)
from dedup.model import (
    DedupConfig,
    Model,
    estimate_m,
    estimate_u,
    estimate_u_zip_in_town,
    matched_prior,
    prior_log2,
    score_levels,
    term_frequencies,
    unvetoed_odds,
    value_counts,
)
from kore.contracts.person_fields import PERSON_RECORD_COLUMNS

CANNOT_LINK_VETOES = ("company_vs_person",)
FORCE_WEIGHT = 1e9


def ensure_columns(records: pd.DataFrame) -> pd.DataFrame:
    """Add every contract column that is missing (as null) and reset to a positional index."""
    out = records.reset_index(drop=True).copy()
    for c in PERSON_RECORD_COLUMNS:
        if c not in out.columns:
            out[c] = pd.NA
    # one type for every contract column (text), whatever the engine returned: ids without ".0"
    integers = ("acct_id", "cust_name_id", "is_primary_name", "is_excluded_account_type")
    for c in integers:
        if not _canonical_integers(out[c]):
            out[c] = pd.to_numeric(out[c], errors="coerce").astype("Int64").astype("string")
    for c in PERSON_RECORD_COLUMNS:
        if c not in integers:
            col = out[c]
            if pd.api.types.is_datetime64_any_dtype(col):
                col = col.dt.strftime("%Y-%m-%d %H:%M:%S")
            out[c] = col.astype("string")
    return out


def _canonical_integers(col: pd.Series) -> bool:
    """Already integers as text ("1001", never "1001.0" or "007"): what ``ensure_columns`` makes of them.
    Why check: records pass through it several times a run, and parsing 1.3M texts again cost ~1 s a
    column each time."""
    if not isinstance(col.dtype, pd.StringDtype):
        return False
    present = col.dropna()
    return bool(present.str.fullmatch(r"-?(?:0|[1-9][0-9]*)").all())


@dataclass
class Scorer:
    """Prepared comparison arrays of one record set, reused for every pair batch."""

    records: pd.DataFrame
    cfg: DedupConfig

    name_freq: pd.DataFrame | None = None  # stored term frequencies (incremental runs score a subset)

    def __post_init__(self) -> None:
        self.records = ensure_columns(self.records)
        self.prep = prepare(self.records, self.cfg.threads)
        if self.name_freq is None or not len(self.name_freq):
            self.tf = term_frequencies(self.prep)
        else:
            self.tf = stored_term_frequencies(self.records, self.name_freq)
        self.name_type_c = (self.records["name_type"].astype("string") == "C").fillna(False).to_numpy(dtype=bool)
        self.index = pd.Index(self.records["record_id"])

    def positions(self, ids: pd.Series) -> np.ndarray:
        pos = self.index.get_indexer(ids.astype(str))
        return pos

    def levels(self, li: np.ndarray, ri: np.ndarray) -> dict[str, np.ndarray]:
        """Agreement levels of aligned pairs, compared chunk by chunk (bounded temporaries).

        Why once: the model is fitted on the candidates' levels and the same levels are then
        scored, so a full run compares each pair once (int8 per field: ~70 MB for 7.5M pairs).
        """
        out = {f: np.empty(len(li), dtype=np.int8) for f in FIELD_NAMES}

        def one(start: int, end: int) -> None:
            lv = compare_pairs(self.prep, li[start:end], ri[start:end], self.cfg.comparison)
            for f in FIELD_NAMES:
                out[f][start:end] = lv[f]

        chunked(one, len(li), self.cfg.score_chunk, self.cfg.threads)
        return out

    def fit(self, li: np.ndarray, ri: np.ndarray, levels: dict[str, np.ndarray] | None = None) -> Model:
        """Estimate u from random pairs and m by EM over the candidate pairs.

        ``levels``: the candidates' levels when already compared (``levels(li, ri)``: aligned with
        ``li``/``ri``, pair by pair).
        """
        u = estimate_u(self.prep, len(self.records), self.cfg)
        u_zip_in_town = estimate_u_zip_in_town(self.prep, self.cfg, u["zip5"])
        if levels is None:
            levels = self.levels(li, ri)
        held = {f: value_counts(self.prep[f + "_code"])[li] for f in ("email", "phone")}
        m = estimate_m(levels, self.cfg, u, held)
        n = len(self.records)
        prior = prior_log2(n, self.cfg)
        if self.cfg.prior_from_data and len(li):
            # expected matches among the candidates over all record pairs: the data's own prior
            matches = candidate_match_share(levels, m, u) * len(li)
            lam = min(0.5, max(matches, 1.0) / max(n * (n - 1) / 2, 1.0))
            prior = float(np.log2(lam / (1.0 - lam)))
        established = self._established(li, ri)
        household_odds = (
            fit_household_odds(
                levels, m["first_name"], self.cfg.household_min_pairs, established, self.cfg.household_max_excess
            )
            if self.cfg.household_min_pairs > 0
            else np.zeros(0)
        )
        renamed_odds = renamed_both_odds = np.zeros(0)
        if self.cfg.household_min_pairs > 0:
            min_pairs, excess = self.cfg.household_min_pairs, self.cfg.household_max_excess
            renamed_odds = fit_renamed_odds(levels, m["last_name"], min_pairs, excess)
            renamed_both_odds = fit_renamed_both_odds(levels, m["first_name"], m["last_name"], min_pairs, excess)
        return Model(
            m=m,
            u=u,
            prior_log2=prior,
            records=float(n),
            u_zip_in_town=u_zip_in_town,
            household_odds=household_odds,
            household_siblings=(
                sibling_levels(levels, m["first_name"], established, self.cfg.household_max_excess)
                if len(household_odds)
                else np.zeros(0, dtype=bool)
            ),
            renamed_odds=renamed_odds,
            renamed_both_odds=renamed_both_odds,
        )

    def _established(self, li: np.ndarray, ri: np.ndarray) -> np.ndarray:
        """Per pair: both first names are established names of the data (the household model's split)."""
        counts = name_counts(self.tf["first_name"], len(self.records))
        return established_names(counts[li], counts[ri], self.cfg.household_name_min_count)

    def score_calibrated(
        self,
        li: np.ndarray,
        ri: np.ndarray,
        model: Model,
        progress: bool = False,
        levels: dict[str, np.ndarray] | None = None,
    ) -> tuple[Model, pd.DataFrame]:
        """Score the pairs under the prior their matches imply (``prior_from_matches``: their odds
        under the model's prior first, then ``matched_prior``); returns the model with that prior.

        Scored again rather than shifted: a household-context pair's odds are fitted directly and do
        not move with the prior (``household_first_weight``). The first pass computes only the odds
        (no scores frame: at a million records it is a gigabyte).
        """
        if self.cfg.prior_from_matches and len(li):
            prior = matched_prior(
                self.unvetoed_odds(li, ri, model, levels), len(self.records), model.prior_log2, self.cfg
            )
            if prior >= model.prior_log2 + 0.01:
                model = replace(model, prior_log2=prior)
        return model, self.score(li, ri, model, progress=progress, levels=levels)

    def unvetoed_odds(
        self, li: np.ndarray, ri: np.ndarray, model: Model, levels: dict[str, np.ndarray] | None = None
    ) -> np.ndarray:
        """The unvetoed pairs' log2-odds under ``model``, chunk by chunk (no scores frame)."""

        def one(start: int, end: int) -> np.ndarray:
            a, b, lv = self._chunk(li, ri, levels, start, end)
            return unvetoed_odds(lv, a, b, model, self.tf, self.name_type_c, self.cfg, self.prep["email_is_name"])

        parts = chunked(one, len(li), self.cfg.score_chunk, self.cfg.threads)
        return np.concatenate(parts) if parts else np.zeros(0)

    def _chunk(
        self, li: np.ndarray, ri: np.ndarray, levels: dict[str, np.ndarray] | None, start: int, end: int
    ) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        """(left, right, levels) of the pairs ``start:end``: the given levels' slice, else compared
        here (callers take ``score_chunk`` pairs at a time: bounded temporaries at millions of pairs)."""
        a, b = li[start:end], ri[start:end]
        if levels is None:
            return a, b, compare_pairs(self.prep, a, b, self.cfg.comparison)
        return a, b, {f: levels[f][start:end] for f in FIELD_NAMES}

    def score(
        self,
        li: np.ndarray,
        ri: np.ndarray,
        model: Model,
        progress: bool = False,
        levels: dict[str, np.ndarray] | None = None,
    ) -> pd.DataFrame:
        """Score aligned pair positions in chunks; returns record ids, levels, weights, decision.

        ``levels``: the pairs' levels when already compared (else compared here, chunk by chunk).
        """
        rid = arrow_text(self.records["record_id"]).combine_chunks()
        with Progress(disable=not progress, transient=True) as bar:
            task = bar.add_task("scoring pairs", total=len(li))

            def one(start: int, end: int) -> pd.DataFrame:
                a, b, lv = self._chunk(li, ri, levels, start, end)
                scored = score_levels(lv, a, b, model, self.tf, self.name_type_c, self.cfg, self.prep["email_is_name"])
                bar.advance(task, len(a))
                return scored

            parts = chunked(one, len(li), self.cfg.score_chunk, self.cfg.threads)
        if not parts:
            return score_levels(
                {f: np.zeros(0, np.int8) for f in FIELD_NAMES},
                np.zeros(0, np.int64),
                np.zeros(0, np.int64),
                model,
                self.tf,
                self.name_type_c,
                self.cfg,
            ).assign(record_id_l=pd.Series(dtype=object), record_id_r=pd.Series(dtype=object))
        # the record ids taken once for every pair, after the numeric chunks are joined: taking them
        # per chunk and concatenating the text columns cost ~9 s at 16M pairs
        out = pd.concat(parts, ignore_index=True)
        for at, name, pos in ((0, "record_id_l", li), (1, "record_id_r", ri)):
            out.insert(at, name, text_series(take_text(rid, np.asarray(pos)), out.index))
        return out


def _tf_values(records: pd.DataFrame, f: str) -> pd.Series:
    return records[f].astype("string")


def name_frequencies(records: pd.DataFrame) -> pd.DataFrame:
    """Term frequencies to store for later runs: every first and last name (as spelled: exact agreement is
    about the spelling, and a household tells a sibling's established name from a typo by it), and
    the values of the other ``TF_FIELDS`` held by more than one record (unique values are implied:
    one record in ``records``, stored as the ``_records`` row)."""
    out = [pd.DataFrame({"field": ["_records"], "value": [""], "freq": [float(len(records))]})]
    for f in TF_FIELDS:
        vc = _tf_values(records, f).value_counts(normalize=True)
        if f not in ("first_name", "last_name"):
            vc = vc[vc * len(records) > 1.5]
        out.append(pd.DataFrame({"field": f, "value": vc.index.astype(str), "freq": vc.to_numpy(dtype=float)}))
    return pd.concat(out, ignore_index=True)


def tf_values(records: pd.DataFrame) -> pd.Series:
    """Every value the records hold in a term-frequency field, once (what
    :func:`stored_term_frequencies` looks up). Text values, not a Python set: an incremental run's
    ~290k records hold ~1M such values (a set of them, sorted, cost ~1 s)."""
    values = pd.concat([_tf_values(records, f) for f in TF_FIELDS], ignore_index=True)
    return values.dropna().drop_duplicates().reset_index(drop=True)


def stored_term_frequencies(records: pd.DataFrame, name_freq: pd.DataFrame) -> dict[str, np.ndarray]:
    """Per record TF from the stored table (values unseen at the last full run count as unique).

    Looked up with Arrow's ``index_in`` (``Series.map`` on text cost ~0.65 s for 235k records)."""
    size = name_freq.loc[name_freq["field"] == "_records", "freq"]
    unique = 1.0 / float(size.iloc[0]) if len(size) else 1e-6
    out = {}
    for f in TF_FIELDS:
        table = name_freq[name_freq["field"] == f]
        freq = np.append(table["freq"].to_numpy(dtype=float), unique)  # the last: a value not stored
        at = pc.index_in(arrow_text(_tf_values(records, f)), value_set=arrow_text(table["value"]).combine_chunks())
        out[f] = freq[pc.fill_null(at, -1).to_numpy(zero_copy_only=False)]
    return out


def order_pair(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pairs are stored with record_id_l < record_id_r (string order), as in the candidate view."""
    a, b = np.asarray(a, dtype=object), np.asarray(b, dtype=object)
    swap = a > b
    return np.where(swap, b, a), np.where(swap, a, b)


def _linked_accounts(records: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """Per record, as text: the Archtics account id a CRM contact carries (null on any other record)
    and an Archtics name's own account id (null on any other record) -- the two sides of a
    deterministic link, spelt alike (``deterministic_pairs``, ``account_linked``). ``records`` has the
    contract's columns (``ensure_columns``, or a ``reindex`` of the ones used)."""
    source, carried = records["source"], records["archtics_account_id_on_crm"]
    crm = carried.astype(str).where((source == "crm").fillna(False) & carried.notna()).astype("string")
    own = whole_numbers(records["acct_id"]).astype("string")
    return crm, own.where((source == "archtics").fillna(False))


def deterministic_pairs(records: pd.DataFrame) -> pd.DataFrame:
    """CRM contacts that already carry an Archtics account id <-> that account's primary name."""
    cols = ["record_id", "source", "acct_id", "is_primary_name", "archtics_account_id_on_crm"]
    rec = records.reindex(columns=cols).reset_index(drop=True)  # only what the link needs (no full copy)
    carried, own = _linked_accounts(rec)
    crm = pd.DataFrame({"record_id": rec["record_id"], "acct_id": carried})[carried.notna()]
    arch = pd.DataFrame({"record_id": rec["record_id"], "acct_id": own})[own.notna()]
    arch["_p"] = whole_numbers(rec.loc[arch.index, "is_primary_name"]).fillna(0)
    arch = arch.sort_values(["acct_id", "_p"], ascending=[True, False]).drop_duplicates("acct_id")
    j = crm.merge(arch[["record_id", "acct_id"]], on="acct_id", suffixes=("_c", "_a"))
    left, right = order_pair(j["record_id_c"].to_numpy(), j["record_id_a"].to_numpy())
    return pd.DataFrame({"record_id_l": left, "record_id_r": right})


def account_linked(records: pd.DataFrame, pos_l: np.ndarray, pos_r: np.ndarray) -> np.ndarray:
    """Whether each pair (positions into ``records``) is a CRM contact carrying an Archtics account id
    and a name of that account, either way round: every deterministic pair is one, whichever of the
    account's names is its primary (that can change without either record of the pair changing)."""
    carried, own = _linked_accounts(records)
    codes, _ = pd.factorize(pd.concat([carried, own], ignore_index=True), use_na_sentinel=True)
    c, o = codes[: len(records)], codes[len(records) :]
    pl, pr = np.asarray(pos_l, dtype=np.int64), np.asarray(pos_r, dtype=np.int64)
    return ((c[pl] >= 0) & (c[pl] == o[pr])) | ((c[pr] >= 0) & (c[pr] == o[pl]))


def carries_evidence(scores: pd.DataFrame, linked: np.ndarray, cfg: DedupConfig) -> np.ndarray:
    """The scored pairs a later run or a person can use -- what ``kore_dedup.pair_scores`` keeps.

    Why: at a million accounts 13.0M of 13.85M scored pairs are non-matches above the cannot-link
    threshold: they link nothing, forbid nothing and queue nothing (``cluster_records`` reads matches,
    deterministic links and cannot-links; the review queue reads possible matches), yet every
    incremental run scanned them twice (its stored scores within the affected clusters and the delete
    of the changed records' pairs: ~1.6 s of ~20 s). Kept: matches and possible matches, cannot-links
    (a cannot-link veto, or a weight at or under ``cfg.cannot_link_threshold``: the threshold is
    stored with the state, and a run under another one is a full run), and pairs ``linked`` by an
    account (``account_linked``: a deterministic link needs its scored row)."""
    decided = scores["decision"].isin(["match", "possible"]).to_numpy(dtype=bool)
    vetoed = scores["veto"].isin(CANNOT_LINK_VETOES).to_numpy(dtype=bool)
    apart = scores["weight"].to_numpy(dtype=float) <= cfg.cannot_link_threshold
    return decided | vetoed | apart | np.asarray(linked, dtype=bool)


def key_identity_pairs(records: pd.DataFrame, golden: pd.DataFrame, clusters: pd.DataFrame) -> pd.DataFrame:
    """CRM contacts carrying a KORE contact key <-> a member of the cluster that key belongs to.

    Why: a contact KORE pushed comes back on the next CRM pull as a CRM contact with
    ``kore_external_key`` = its contact key. It IS that cluster's contact (identity, not a fuzzy
    match), so it is force-linked to the cluster instead of being scored like a stranger.
    ``golden``: contact_key, cluster_id (stored golden contacts); ``clusters``: record_id, cluster_id
    (stored clusters). Returns record_id_l, record_id_r (l < r) for records present in ``records``.
    """
    empty = pd.DataFrame({"record_id_l": pd.Series(dtype=object), "record_id_r": pd.Series(dtype=object)})
    if not len(records) or not len(golden) or not len(clusters):
        return empty
    rec = ensure_columns(records)
    crm = rec[(rec["source"] == "crm") & rec["kore_external_key"].notna()][["record_id", "kore_external_key"]]
    if not len(crm):
        return empty
    owner = golden[["contact_key", "cluster_id"]].dropna().astype(str).drop_duplicates("contact_key")
    present = set(rec["record_id"].astype(str))
    members = clusters[["record_id", "cluster_id"]].astype(str)
    members = members[in_ids(members["record_id"], present) & ~in_ids(members["record_id"], set(crm["record_id"]))]
    anchor = members.sort_values("record_id").drop_duplicates("cluster_id")  # smallest id: deterministic
    j = (
        crm.astype(str)
        .merge(owner, left_on="kore_external_key", right_on="contact_key")
        .merge(anchor.rename(columns={"record_id": "anchor"}), on="cluster_id")
    )
    if not len(j):
        return empty
    left, right = order_pair(j["record_id"].to_numpy(), j["anchor"].to_numpy())
    return pd.DataFrame({"record_id_l": left, "record_id_r": right})


def pair_keys(left: pd.Series, right: pd.Series) -> pd.Series:
    return left.astype(str) + "\x1f" + right.astype(str)


def cluster_records(
    records: pd.DataFrame,
    scores: pd.DataFrame,
    previous_clusters: pd.DataFrame,
    cfg: DedupConfig,
    force: pd.DataFrame | None = None,
    forbid: pd.DataFrame | None = None,
    deterministic: pd.DataFrame | None = None,
    reserved: set[str] | None = None,
    identity: pd.DataFrame | None = None,
    positions: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[pd.DataFrame, list[tuple[str, str, str]]]:
    """Clusters (record_id, cluster_id, first_seen_at) from scored pairs plus manual decisions.

    ``force``/``forbid``/``deterministic``/``identity``: frames of record_id_l, record_id_r.
    ``positions``: the scored pairs' positions into ``records`` when the caller has them (a full run
    scored them by position: looking 16M pairs' ids up again took ~18 s at a million accounts).
    ``identity`` (``key_identity_pairs``): a CRM contact KORE created, tied to its own cluster. Linked
    like a forced match, and its scored cannot-links are dropped: however a CRM user edited it, it is
    still that cluster's contact and must not push the cluster's other records out (manual forbids stay).
    Returns the clusters frame and the links the guards refused (for explain / logs).
    """
    rec = ensure_columns(records)
    idx = pd.Index(rec["record_id"])
    n = max(len(rec), 1)

    def keys(df: pd.DataFrame | None, both_ways: bool = False) -> np.ndarray:
        """Pairs as int64 keys pos_l * n + pos_r (no per-pair strings: millions of pairs)."""
        if df is None or not len(df):
            return np.empty(0, dtype=np.int64)
        pl = idx.get_indexer(df["record_id_l"].astype(str))
        pr = idx.get_indexer(df["record_id_r"].astype(str))
        ok = (pl >= 0) & (pr >= 0)
        pl, pr = pl[ok].astype(np.int64), pr[ok].astype(np.int64)
        out = [pl * n + pr]
        if both_ways:
            out.append(pr * n + pl)
        return np.concatenate(out)

    if identity is not None and len(identity):
        force = identity if force is None or not len(force) else pd.concat([force, identity], ignore_index=True)
        ids = set(identity["record_id_l"].astype(str)) | set(identity["record_id_r"].astype(str))
        bound = (rec["record_id"].isin(ids) & (rec["source"] == "crm")).to_numpy(dtype=bool)
    else:
        bound = np.zeros(len(rec), dtype=bool)
    if positions is not None and len(positions[0]) == len(scores):
        sl, sr = np.asarray(positions[0], dtype=np.int64), np.asarray(positions[1], dtype=np.int64)
    else:
        sl = idx.get_indexer(scores["record_id_l"]).astype(np.int64)
        sr = idx.get_indexer(scores["record_id_r"]).astype(np.int64)
    present = (sl >= 0) & (sr >= 0)
    sk = sl * n + sr
    forbid_k = keys(forbid, both_ways=True)
    force_k = keys(force)
    not_forbidden = ~member(sk, forbid_k)
    # masks straight from the (categorical) columns: no Python str per pair
    veto_cl = scores["veto"].isin(CANNOT_LINK_VETOES).to_numpy(dtype=bool)
    is_match = (scores["decision"] == "match").fillna(False).to_numpy(dtype=bool)
    is_det = member(sk, keys(deterministic)) & ~veto_cl
    w = scores["weight"].to_numpy(dtype=float)
    link = (is_match | is_det) & not_forbidden & present
    fl, fr = force_k // n, force_k % n
    fok = ~member(force_k, forbid_k)
    el = np.concatenate([sl[link], fl[fok]])
    er = np.concatenate([sr[link], fr[fok]])
    ew = np.concatenate([np.where(is_det[link], FORCE_WEIGHT / 2, w[link]), np.full(int(fok.sum()), FORCE_WEIGHT)])

    cannot = (veto_cl | (w <= cfg.cannot_link_threshold)) & present
    cannot &= ~member(sk, force_k)
    cannot &= ~(bound[np.maximum(sl, 0)] | bound[np.maximum(sr, 0)])
    fb = keys(forbid)
    cl_a = np.concatenate([sl[cannot], fb // n])
    cr_a = np.concatenate([sr[cannot], fb % n])
    is_crm = (rec["source"] == "crm").fillna(False).to_numpy(dtype=bool)
    res = constrained_components(len(rec), el, er, ew, is_crm, cl_a, cr_a)
    clusters = assign_cluster_ids(rec["record_id"], res.labels, previous_clusters, reserved)
    rid = rec["record_id"].to_numpy(dtype=object)
    refused = [(rid[a], rid[b], why) for a, b, why in res.refused]
    return clusters, refused


def best_weights(scores: pd.DataFrame, clusters: pd.DataFrame) -> pd.Series:
    """Per record: the strongest match weight linking it inside its own cluster (mapping ``score``)."""
    if not len(scores):
        return pd.Series(dtype=float)
    cid = clusters.set_index("record_id")["cluster_id"]
    s = scores[scores["decision"] == "match"]
    same = s["record_id_l"].map(cid).to_numpy() == s["record_id_r"].map(cid).to_numpy()
    s = s[same]
    both = pd.concat(
        [
            s[["record_id_l", "weight"]].rename(columns={"record_id_l": "record_id"}),
            s[["record_id_r", "weight"]].rename(columns={"record_id_r": "record_id"}),
        ]
    )
    return both.groupby("record_id")["weight"].max()
