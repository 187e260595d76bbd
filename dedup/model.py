"""Fellegi-Sunter model: m/u probabilities, match weights, decisions.

* ``u`` (P(level | different people)) comes from random record pairs of the same data set: almost
  all random pairs are different people, so their level frequencies estimate u directly.
* ``m`` (P(level | same person)) is estimated by EM over the candidate pairs (``dedup.em``: per
  training session, each field from the sessions not selecting on it), starting from ``PRIOR_M``
  and smoothed towards it (pseudo-counts), so small files stay sane.
* Match weight = sum over fields of log2(m/u) at the pair's level (missing = 0). For exact
  agreement on names, e-mail, phone, street and company, u is the value's term frequency: "Smith =
  Smith" or a family mailbox weigh less than "Tremblay-Okonkwo" or a distinctive e-mail.
* Evidence, not vetoes: names that differ only weigh against a match. Households (a different
  first name with the same surname and street or phone) get ``household_weight`` on top, and their
  shared phone counts for nothing there: surname, address and a landline are one household's, not
  independent evidence, so an e-mail or birth date has to overcome it. The only structural rule is
  that a company-type record never matches a person.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from dedup.blocking import DEFAULT_MAX_BLOCK
from dedup.compare import FIELD_NAMES, FIELDS, MISSING, TF_FIELDS, ComparisonCutoffs, compare_pairs, level
from dedup.em import estimate_m_em
from dedup.household import (
    NICKNAME_LEVEL,
    established_names,
    household,
    household_first_weight,
    name_counts,
    renamed,
    renamed_both,
)

# EM's starting point and smoothing: typical m rates (levels as in ``dedup.compare.FIELDS``)
PRIOR_M: dict[str, tuple[float, ...]] = {
    "first_name": (0.02, 0.005, 0.02, 0.03, 0.06, 0.05, 0.02, 0.795),
    "last_name": (0.03, 0.02, 0.04, 0.02, 0.89),
    "email": (0.40, 0.03, 0.07, 0.50),
    "phone": (0.35, 0.03, 0.02, 0.60),
    "street": (0.35, 0.10, 0.55),
    "city": (0.25, 0.05, 0.70),
    "zip5": (0.30, 0.03, 0.02, 0.65),
    "company": (0.45, 0.10, 0.45),
    "birth_date": (0.03, 0.04, 0.93),
}

# typical u (random-pair agreement) rates: a prior that dominates only on small inputs (file mode)
PRIOR_U: dict[str, tuple[float, ...]] = {
    "first_name": (0.95, 0.0005, 0.002, 0.008, 0.004, 0.001, 0.0001, 0.0345),
    "last_name": (0.965, 0.005, 0.005, 0.0001, 0.025),
    "email": (0.998, 0.001, 0.0005, 0.0005),
    "phone": (0.994, 0.001, 0.0001, 0.005),
    "street": (0.975, 0.02, 0.005),
    "city": (0.6, 0.01, 0.39),
    "zip5": (0.6, 0.349, 0.001, 0.05),
    "company": (0.9, 0.05, 0.05),
    "birth_date": (0.95, 0.049, 0.001),
}

DECISIONS = ("match", "possible", "non_match")
VETOES = ("", "company_vs_person")


@dataclass
class DedupConfig:
    """Tunable thresholds and weights of the engine (defaults: today's tuned values).

    ``match_threshold``/``possible_threshold`` apply to the posterior log2-odds of a match: the sum of
    field weights (log2 Bayes factors) plus the prior log2-odds that two records are one person,
    log2(2 * duplicates_per_record / records). The prior is what keeps "same common name, nothing
    else" from merging in a million records while it still merges in a small file.
    ``cannot_link_threshold`` applies to the raw weight sum (strong evidence of different people).
    ``household_weight``: added when first names differ (different .. fuzzy) while the surname and the
    street or phone agree. ``household_min_pairs``: inputs with at least that many such pairs fit
    their own household odds instead (``dedup.household``), unless they hold more than
    ``household_max_excess`` times the different-first-name pairs their matches explain (households:
    then ``household_weight`` applies). On FEBRL (no households) the fit lets a mistyped or replaced
    first name at the same address match; on the generator (families) it is refused.
    ``prior_from_matches``: after a first scoring with the configured prior, the prior becomes the
    share of all record pairs that the scoring matched (``matched_prior``: a fixed point, never below
    the configured prior, ``prior_pseudo_matches`` pseudo-matches at the configured rate so that a
    small input keeps it) and the pairs are scored again. It lands within 0.1 bit of the true prior
    on FEBRL1/2/4 and the generator, where ``duplicates_per_record`` is 1.2-1.7 bits low.
    ``prior_from_data``: the prior log2-odds from the EM-estimated share of matches among the
    candidates instead of ``duplicates_per_record`` (off by default: at 100k accounts the EM share is
    3.5 bits above the truth, namesakes at different addresses merge, precision 0.913).
    ``comparison``: the comparators' similarity cut-offs (``dedup.compare.ComparisonCutoffs``).
    ``prior_strength``/``u_prior_strength``: pseudo-counts of the m/u priors (``PRIOR_M``/``PRIOR_U``);
    ``exact_u_min_values``: from how many values on a field exact agreement's u is the values'
    collision probability instead of the sampled rate; ``score_chunk``: pairs compared and scored
    at once (bounds the temporaries' memory); ``threads``: how many threads share them
    (``dedup.arrays.chunked``).
    """

    match_threshold: float = 1.0
    household_weight: float = -8.0
    tf_prior_records: float = 30.0
    household_name_min_count: float = 2.0
    household_min_pairs: int = 100
    household_max_excess: float = 2.0
    prior_from_data: bool = False
    prior_from_matches: bool = True
    prior_pseudo_matches: float = 30.0
    town_min_pairs: int = 1000
    town_u_prior_strength: float = 100.0
    possible_threshold: float = -5.0
    cannot_link_threshold: float = -8.0
    duplicates_per_record: float = 0.15
    email_partial_max_weight: float = 2.0
    u_sample_pairs: int = 200_000
    prior_strength: float = 50.0
    u_prior_strength: float = 2000.0
    exact_u_min_values: int = 1000
    min_u: float = 1e-6
    weight_clip: tuple[float, float] = (-12.0, 18.0)
    max_block_size: int = DEFAULT_MAX_BLOCK
    seed: int = 42
    score_chunk: int = 1_000_000
    threads: int = field(default_factory=lambda: min(os.cpu_count() or 1, 4))
    comparison: ComparisonCutoffs = field(default_factory=ComparisonCutoffs)


# what a stored model was fitted and scored by: raised when the method changes (2: the data's own
# prior and the ZIP within a town), so that a warehouse's next run re-fits instead of scoring new
# pairs with a model of the old method; 3: names and streets also agree exactly without separators, two
# more blocking keys; 4: the "crossed" first-name level; 5: both names different at one address
# (``_renamed_both``), and a surname change there also with a typo or nickname of the first name; 6: a
# mistyped street type read as the type, a first address line compared with the head of a longer one,
# and three more blocking keys (street name without the house number, first-name prefix)
MODEL_VERSION = 6


@dataclass
class Model:
    m: dict[str, np.ndarray] = field(default_factory=dict)
    u: dict[str, np.ndarray] = field(default_factory=dict)
    prior_log2: float = 0.0
    records: float = 0.0  # records the model was fitted on (term-frequency smoothing)
    # posterior log2-odds of a household-context pair per first-name level (dedup.household); empty:
    # not enough household-context pairs to estimate, ``DedupConfig.household_weight`` applies
    household_odds: np.ndarray = field(default_factory=lambda: np.zeros(0))
    version: int = MODEL_VERSION
    # u of the ZIP's levels among unrelated people of one town (``estimate_u_zip_in_town``); empty:
    # too few such pairs to estimate, the town and an exact ZIP then count once
    u_zip_in_town: np.ndarray = field(default_factory=lambda: np.zeros(0))
    # per first-name level: are two established, merely similar names at one address a family's
    # (``dedup.household.sibling_levels``)? Empty (a model stored before this was fitted): all are
    household_siblings: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    # posterior log2-odds of one person for one first name at one address with another surname
    # (``dedup.household.fit_renamed_odds``); empty: not fitted, the fields' own weights apply
    renamed_odds: np.ndarray = field(default_factory=lambda: np.zeros(0))
    # the same for both names different at one address (``dedup.household.fit_renamed_both_odds``)
    renamed_both_odds: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def weights(self, cfg: DedupConfig) -> dict[str, np.ndarray]:
        lo, hi = cfg.weight_clip
        return {f: np.clip(np.log2(self.m[f] / np.maximum(self.u[f], cfg.min_u)), lo, hi) for f in FIELD_NAMES}

    def to_frame(self) -> pd.DataFrame:
        rows = []
        for spec in FIELDS:
            for lvl, label in enumerate(spec.levels):
                rows.append(
                    {
                        "field": spec.name,
                        "level": lvl,
                        "label": label,
                        "m": float(self.m[spec.name][lvl]),
                        "u": float(self.u[spec.name][lvl]),
                    }
                )
        rows.append({"field": "_prior", "level": 0, "label": "prior_log2_odds", "m": self.prior_log2, "u": 0.0})
        rows.append({"field": "_records", "level": 0, "label": "records_fitted", "m": self.records, "u": 0.0})
        rows.append({"field": "_version", "level": 0, "label": "model_version", "m": float(self.version), "u": 0.0})
        for lvl, odds in enumerate(self.household_odds):
            rows.append({"field": "_household", "level": lvl, "label": "log2_odds_in_household", "m": odds, "u": 0.0})
        for lvl, sib in enumerate(self.household_siblings):
            rows.append(
                {"field": "_household_sibling", "level": lvl, "label": "family_names", "m": float(sib), "u": 0.0}
            )
        for lvl, odds in enumerate(self.renamed_odds):
            rows.append({"field": "_renamed", "level": lvl, "label": "log2_odds_renamed", "m": float(odds), "u": 0.0})
        for lvl, odds in enumerate(self.renamed_both_odds):
            rows.append(
                {"field": "_renamed_both", "level": lvl, "label": "log2_odds_renamed_both", "m": float(odds), "u": 0.0}
            )
        zip_labels = next(f.levels for f in FIELDS if f.name == "zip5")
        for lvl, u_town in enumerate(self.u_zip_in_town):
            rows.append(
                {"field": "_zip5_in_town", "level": lvl, "label": zip_labels[lvl], "m": 0.0, "u": float(u_town)}
            )
        return pd.DataFrame(rows)

    def fits_comparisons(self) -> bool:
        """Whether the stored model has the comparison levels of today's ``FIELDS`` and today's
        ``MODEL_VERSION`` (a model stored before the levels or the method changed must not score new
        pairs beside a full run's: the next run must be a full one)."""
        levels = all(f.name in self.m and len(self.m[f.name]) == len(f.levels) for f in FIELDS)
        return levels and self.version == MODEL_VERSION

    @classmethod
    def from_frame(cls, df: pd.DataFrame) -> Model:
        mod = cls()
        prior = df[df["field"] == "_prior"]
        mod.prior_log2 = float(prior["m"].iloc[0]) if len(prior) else 0.0
        fitted = df[df["field"] == "_records"]
        mod.records = float(fitted["m"].iloc[0]) if len(fitted) else 1e6
        hh = df[df["field"] == "_household"].sort_values("level")
        mod.household_odds = hh["m"].to_numpy(dtype=float)
        mod.u_zip_in_town = df[df["field"] == "_zip5_in_town"].sort_values("level")["u"].to_numpy(dtype=float)
        sib = df[df["field"] == "_household_sibling"].sort_values("level")
        mod.household_siblings = sib["m"].to_numpy(dtype=float) > 0.5
        mod.renamed_odds = df[df["field"] == "_renamed"].sort_values("level")["m"].to_numpy(dtype=float)
        mod.renamed_both_odds = df[df["field"] == "_renamed_both"].sort_values("level")["m"].to_numpy(dtype=float)
        version = df[df["field"] == "_version"]
        mod.version = int(version["m"].iloc[0]) if len(version) else 1  # stored before versions: 1
        for f, g in (
            df[
                ~df["field"].isin(
                    [
                        "_prior",
                        "_records",
                        "_household",
                        "_household_sibling",
                        "_zip5_in_town",
                        "_version",
                        "_renamed",
                        "_renamed_both",
                    ]
                )
            ]
            .sort_values(["field", "level"])
            .groupby("field")
        ):
            mod.m[str(f)] = g["m"].to_numpy(dtype=float)
            mod.u[str(f)] = g["u"].to_numpy(dtype=float)
        return mod


def estimate_u(prep: dict[str, np.ndarray], n: int, cfg: DedupConfig) -> dict[str, np.ndarray]:
    """u from random pairs (nearly all are different people)."""
    rng = np.random.default_rng(cfg.seed)
    if n * (n - 1) // 2 <= cfg.u_sample_pairs:
        li, ri = np.triu_indices(n, 1)
    else:
        li = rng.integers(0, n, size=cfg.u_sample_pairs)
        ri = rng.integers(0, n, size=cfg.u_sample_pairs)
        keep = li != ri
        li, ri = li[keep], ri[keep]
    levels = compare_pairs(prep, li, ri, cfg.comparison)
    u = {}
    for spec in FIELDS:
        lv = levels[spec.name]
        lv = lv[lv != MISSING]
        counts = np.bincount(lv, minlength=len(spec.levels)).astype(float)
        # prior smoothing: an agreement never seen among random pairs is rare, not impossible, and a
        # small file's few random pairs (many of them true matches) do not decide u alone
        prior = np.asarray(PRIOR_U[spec.name])
        u[spec.name] = (counts + cfg.u_prior_strength * prior) / (counts.sum() + cfg.u_prior_strength)
        # exact agreement of a high-cardinality field (phone, e-mail) is too rare to count among
        # sampled pairs: use the exact collision probability sum(p_v^2) of its values instead
        codes = prep[spec.name + "_code"]
        codes = codes[codes >= 0]
        if len(codes) >= cfg.exact_u_min_values:
            p = np.bincount(codes) / len(codes)
            u[spec.name][-1] = max(float((p * p).sum()), cfg.min_u)
    return u


def estimate_u_zip_in_town(prep: dict[str, np.ndarray], cfg: DedupConfig, u_zip: np.ndarray) -> np.ndarray:
    """u of the ZIP's levels for two unrelated people of one town: sampled pairs of records with the
    same town (uniform over all such pairs) that share no surname, street, e-mail or phone (so that
    duplicates, which share a town, do not count as unrelated people).

    Why: how much a ZIP says beyond the town depends on the data. In the generator, and in any
    country where a town's ZIPs share their first digits, two people of one town nearly always agree
    on the ZIP's first three digits; in FEBRL suburb and postcode were drawn apart. Scoring the ZIP by
    its u among all pairs counted the town twice for namesakes of one town (precision 0.977 at a
    million records once the prior was the data's own). Empty below ``cfg.town_min_pairs`` sampled
    pairs, smoothed towards the ZIP's u among all pairs with ``cfg.town_u_prior_strength``.
    """
    codes = prep["city_code"]
    idx = np.flatnonzero(codes >= 0)
    order = idx[np.argsort(codes[idx], kind="stable")]
    c = codes[order]
    if len(c) < 2:
        return np.zeros(0)
    starts = np.flatnonzero(np.r_[True, c[1:] != c[:-1]])
    sizes = np.diff(np.r_[starts, len(c)])
    town_pairs = sizes * (sizes - 1) / 2.0
    if town_pairs.sum() < cfg.town_min_pairs:
        return np.zeros(0)
    rng = np.random.default_rng(cfg.seed + 1)
    k = int(min(cfg.u_sample_pairs, town_pairs.sum()))
    g = rng.choice(len(sizes), size=k, p=town_pairs / town_pairs.sum())
    a = rng.integers(0, sizes[g])
    b = rng.integers(0, sizes[g] - 1)
    b = b + (b >= a)
    levels = compare_pairs(prep, order[starts[g] + a], order[starts[g] + b], cfg.comparison)
    unrelated = (levels["last_name"] <= 0) & (levels["street"] <= 0) & (levels["email"] < 3) & (levels["phone"] < 3)
    lv = levels["zip5"][unrelated & (levels["zip5"] != MISSING)]
    if len(lv) < cfg.town_min_pairs:
        return np.zeros(0)
    counts = np.bincount(lv, minlength=len(u_zip)).astype(float)
    strength = cfg.town_u_prior_strength
    return np.maximum((counts + strength * u_zip) / (counts.sum() + strength), cfg.min_u)


def estimate_m(
    levels: dict[str, np.ndarray],
    cfg: DedupConfig,
    u: dict[str, np.ndarray],
    value_records: dict[str, np.ndarray] | None = None,
) -> dict[str, np.ndarray]:
    """m by EM over the candidate pairs' levels (``dedup.em``), smoothed towards ``PRIOR_M``;
    ``value_records``: per pair, how many records hold the left record's e-mail / phone."""
    prior = {f: np.asarray(PRIOR_M[f], dtype=float) for f in FIELD_NAMES}
    if not levels or not len(next(iter(levels.values()))):
        return prior
    return estimate_m_em(levels, u, prior, cfg.prior_strength, value_records)


def prior_log2(n_records: int, cfg: DedupConfig) -> float:
    """Prior log2-odds that two records are the same person."""
    lam = min(0.5, 2.0 * cfg.duplicates_per_record / max(n_records, 2))
    return float(np.log2(lam / (1.0 - lam)))


def matched_prior(log2_odds: np.ndarray, n_records: int, prior: float, cfg: DedupConfig) -> float:
    """The prior log2-odds that the data's own matches imply: matched pairs over all record pairs.

    Why: how many duplicates a data set holds differs per client and per file (FEBRL is half
    duplicates; a club's export has ~0.3 per record), and the decision threshold is a posterior
    probability, so a constant prior misplaces it by bits. ``log2_odds`` are the (unvetoed) pairs'
    odds under ``prior``; raising the prior by d moves each odds by d (``Scorer.score_calibrated``
    scores again exactly), so the count at a prior p is the pairs with odds >= threshold - (p - prior).
    Iterated to its fixed point; ``cfg.prior_pseudo_matches`` matches at the configured rate are
    added, so that a small input stays near it, and the result is never below ``prior``.
    """
    pairs = n_records * (n_records - 1) / 2.0
    if pairs < 1:
        return prior
    lam0 = 2.0**prior / (1.0 + 2.0**prior)
    odds = np.sort(np.asarray(log2_odds, dtype=float))
    p = prior
    for _ in range(50):
        k = len(odds) - np.searchsorted(odds, cfg.match_threshold - (p - prior), side="left")
        lam = min(0.5, (k + cfg.prior_pseudo_matches) / (pairs + cfg.prior_pseudo_matches / lam0))
        new = max(prior, float(np.log2(lam / (1.0 - lam))))
        if abs(new - p) < 0.005:
            return new
        p = new
    return p


def value_counts(codes: np.ndarray) -> np.ndarray:
    """Per record: how many records hold its value (``codes`` from ``dedup.compare.prepare``, -1 =
    none; 0 for a record without one)."""
    valid = codes >= 0
    out = np.zeros(len(codes), dtype=np.int64)
    if valid.any():
        out[valid] = np.bincount(codes[valid])[codes[valid]]
    return out


def term_frequencies(prep: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Per record and ``TF_FIELDS`` field: the share of records with the same value."""
    out = {}
    for f in TF_FIELDS:
        codes = prep[f + "_code"]
        out[f] = value_counts(codes) / max(int((codes >= 0).sum()), 1)
    return out


def tf_u(tf: np.ndarray, n_records: float, model: Model, field_name: str, cfg: DedupConfig) -> np.ndarray:
    """u of exact agreement on a value: its term frequency, shrunk towards the field's exact-level u
    with ``tf_prior_records`` pseudo-records (in a file of four rows every shared value is "common")."""
    k = cfg.tf_prior_records
    u_field = PRIOR_U[field_name][-1]
    return np.maximum((n_records * tf + k * u_field) / (n_records + k), cfg.min_u)


SWAP_LEVEL = {f.name: f.levels.index("swapped") for f in FIELDS if "swapped" in f.levels}
CROSSED_LEVEL = level("first_name", "crossed")


def _exact_weight(
    field_name: str, model: Model, tf: dict[str, np.ndarray], left: np.ndarray, n_records: float, cfg: DedupConfig
) -> np.ndarray:
    """log2(m_exact / u) with u the left value's term frequency (shrunk, ``tf_u``), clipped."""
    lo, hi = cfg.weight_clip
    m_top = model.m[field_name][-1]
    return np.clip(np.log2(m_top / tf_u(tf[field_name][left], n_records, model, field_name, cfg)), lo, hi)


def zip_in_town(city_level: np.ndarray, zip_level: np.ndarray, model: Model) -> np.ndarray:
    """Pairs whose ZIP is weighed by its u among one town's unrelated people: the town exact, the ZIP
    agreeing (some level above "different"), and a model that estimated that u. Another ZIP in one's
    own town is as rare for one person as for two (m is the ZIP's among all matches), so it keeps
    its weight among all pairs."""
    city_exact = len(FIELDS[FIELD_NAMES.index("city")].levels) - 1
    return (city_level == city_exact) & (zip_level > 0) & (len(model.u_zip_in_town) > 0)


def field_weights(
    levels: dict[str, np.ndarray],
    li: np.ndarray,
    ri: np.ndarray,
    model: Model,
    tf: dict[str, np.ndarray],
    cfg: DedupConfig,
    name_email: np.ndarray,
) -> dict[str, np.ndarray]:
    """Weight per field and pair: log2(m/u) at the level, term-frequency u for exact agreement,
    dependent evidence counted once (street/city/ZIP; a household's surname, address and phone)."""
    w_table = model.weights(cfg)
    lo, hi = cfg.weight_clip
    n_records = model.records
    counts = name_counts(tf["first_name"], n_records)
    hh = household(levels, counts[li], counts[ri], cfg.household_name_min_count)
    out = {}
    for spec in FIELDS:
        lv = levels[spec.name]
        w = np.where(lv == MISSING, 0.0, w_table[spec.name][np.maximum(lv, 0)])
        if spec.name in tf:
            exact = lv == len(spec.levels) - 1
            w[exact] = _exact_weight(spec.name, model, tf, li[exact], n_records, cfg)
        if spec.name in ("first_name", "last_name"):
            # first and last name swapped is ONE event, not two independent agreements: score it as
            # the two exact agreements (term frequencies) times the swap's own rate among matches,
            # P(swap | M) / (m_first_exact * m_last_exact), put on the first name
            swap = lv == SWAP_LEVEL[spec.name]
            w[swap] = _exact_weight(spec.name, model, tf, li[swap], n_records, cfg)
            if spec.name == "first_name":
                m_f, m_l = model.m["first_name"], model.m["last_name"]
                w[swap] += np.log2(m_f[SWAP_LEVEL["first_name"]] / (m_f[-1] * m_l[-1]))
            else:
                # one name crossed into the other field, the other name replaced ("Harrison Capurso" /
                # "Capurso Ruby") is ONE event too: the first name's "crossed" level, whose m is its
                # rate among matches; the replaced surname's disagreement is part of it, not more
                w[(levels["first_name"] == CROSSED_LEVEL) & (lv == 0)] = 0.0
        if spec.name == "email":
            # similar local parts are mostly the name again (megan.wilson vs meganwilson): cap it
            partial = (lv == 1) | (lv == 2)
            w[partial] = np.minimum(w[partial], cfg.email_partial_max_weight)
            # the same name-only address (lisasmith@..., nbrown@...) on two records of (nearly) one
            # name: different people of that name collide on the big providers, so it is little
            # evidence beyond the name match. When the names differ (a first or last name at level
            # "different": Andrew Casey vs Andrew Hartman after a name change), the shared name does
            # not explain the shared address: it is the strong evidence an exact e-mail is
            names_differ = (levels["first_name"] == 0) | (levels["last_name"] == 0)
            namey = (lv == 3) & (name_email[li] | name_email[ri]) & ~names_differ
            w[namey] = np.minimum(w[namey], cfg.email_partial_max_weight)
        if spec.name in ("city", "zip5"):
            # street, city and ZIP are one piece of evidence, the address: with the same street they
            # add nothing more. Within one town the ZIP is weighed by its u among that town's
            # unrelated people (``estimate_u_zip_in_town``: what it says beyond the town); without
            # that estimate the city adds nothing to the same ZIP (it follows from it)
            town = len(model.u_zip_in_town) > 0
            if spec.name == "zip5" and town:
                in_town = zip_in_town(levels["city"], lv, model)
                ratio = model.m["zip5"][lv[in_town]] / model.u_zip_in_town[lv[in_town]]
                w[in_town] = np.clip(np.log2(ratio), lo, hi)
            if spec.name == "city" and not town:
                same_zip = levels["zip5"] == 3
                w[same_zip] = np.minimum(w[same_zip], 0.0)
            same_street = levels["street"] == 2
            w[same_street] = np.minimum(w[same_street], 0.0)
        if spec.name == "phone":
            # a household's landline is the address again; but two established names that are
            # nicknames of one another (James / Jim) with one phone are one person's two spellings
            landline = hh & (levels["first_name"] != NICKNAME_LEVEL)
            w[landline] = np.minimum(w[landline], 0.0)
        if spec.name == "first_name" and not len(model.household_odds):
            # no household model fitted (small input): a similar name there is a sibling's
            w[hh] = np.minimum(w[hh], 0.0) + cfg.household_weight
        out[spec.name] = w
    # an employer's name and its office address are one piece of evidence too (colleagues share
    # both): with the same street the company counts only what it says beyond it
    office = (levels["company"] == 2) & (levels["street"] == 2)
    out["company"][office] = np.maximum(out["company"][office] - np.maximum(out["street"][office], 0.0), 0.0)
    if len(model.household_odds):
        est = established_names(counts[li], counts[ri], cfg.household_name_min_count)
        # two established names that are merely similar (Regina / Reginald) at one address, at a
        # level where the data holds more of them than its matches explain: a family's names, which
        # the fitted odds would credit with the matches' typo rate. Elsewhere (FEBRL's recurring
        # typos) the fitted odds of their category apply
        sibling = hh & (levels["first_name"] != 0) & est
        if len(model.household_siblings):
            sibling &= model.household_siblings[np.maximum(levels["first_name"], 0)]
        fitted = hh & ~sibling
        out["first_name"][fitted] = household_first_weight(
            levels, out, fitted, model.household_odds, model.prior_log2, est
        )
        out["first_name"][sibling] = np.minimum(out["first_name"][sibling], 0.0) + cfg.household_weight
    # one first name at one address with another surname, and both names different there: the fitted
    # odds of the context stand for the fields it shares (``dedup.household.fit_renamed_odds``,
    # ``fit_renamed_both_odds``); e-mail, phone, birth date add. The two contexts are disjoint
    for context, odds in ((renamed, model.renamed_odds), (renamed_both, model.renamed_both_odds)):
        if len(odds):
            rows = context(levels)
            shared = sum(out[f][rows] for f in ("first_name", "street", "city", "zip5"))
            out["last_name"][rows] = odds[0] - model.prior_log2 - shared
    return out


def _weighed(
    levels: dict[str, np.ndarray],
    li: np.ndarray,
    ri: np.ndarray,
    model: Model,
    tf: dict[str, np.ndarray],
    name_type_c: np.ndarray,
    cfg: DedupConfig,
    name_email: np.ndarray | None,
) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """Per-field weights, their total and the structural veto code (index into VETOES) per pair."""
    if name_email is None:
        name_email = np.zeros(int(max(li.max(initial=0), ri.max(initial=0))) + 1, dtype=bool)
    weights = field_weights(levels, li, ri, model, tf, cfg, name_email)
    total = np.zeros(len(li), dtype=float)
    for spec in FIELDS:
        total += weights[spec.name]
    veto_code = np.zeros(len(li), dtype=np.int8)  # index into VETOES ("" = none)
    veto_code[name_type_c[li] != name_type_c[ri]] = VETOES.index("company_vs_person")
    return weights, total, veto_code


def unvetoed_odds(
    levels: dict[str, np.ndarray],
    li: np.ndarray,
    ri: np.ndarray,
    model: Model,
    tf: dict[str, np.ndarray],
    name_type_c: np.ndarray,
    cfg: DedupConfig,
    name_email: np.ndarray | None = None,
) -> np.ndarray:
    """The posterior log2-odds of the pairs no structural veto stops, exactly as ``score_levels``
    reports them (rounded to 3 places): all that the prior's calibration reads, without building
    the scores' frame (at 16M pairs the frame and its record ids cost ~5 s)."""
    _, total, veto_code = _weighed(levels, li, ri, model, tf, name_type_c, cfg, name_email)
    return np.round(total + model.prior_log2, 3)[veto_code == 0]


def score_levels(
    levels: dict[str, np.ndarray],
    li: np.ndarray,
    ri: np.ndarray,
    model: Model,
    tf: dict[str, np.ndarray],
    name_type_c: np.ndarray,
    cfg: DedupConfig,
    name_email: np.ndarray | None = None,
) -> pd.DataFrame:
    """Per-field levels and weights, total weight, posterior log2-odds, structural veto, decision.

    A household's extra negative weight is part of ``first_name_weight`` (the disagreement it is about).
    """
    weights, total, veto_code = _weighed(levels, li, ri, model, tf, name_type_c, cfg, name_email)
    cols: dict[str, np.ndarray] = {}
    for spec in FIELDS:
        cols[spec.name + "_level"] = levels[spec.name]
        cols[spec.name + "_weight"] = np.round(weights[spec.name], 3).astype(np.float32)
    odds = total + model.prior_log2
    # categoricals (one byte per pair): a full run holds millions of scored pairs in memory
    decision = np.where(odds >= cfg.match_threshold, 0, np.where(odds >= cfg.possible_threshold, 1, 2)).astype(np.int8)
    decision[veto_code != 0] = 2
    out = pd.DataFrame(cols)
    out.insert(0, "weight", np.round(total, 3))
    out.insert(1, "log2_odds", np.round(odds, 3))
    out.insert(2, "decision", pd.Categorical.from_codes(decision, categories=DECISIONS))
    out.insert(3, "veto", pd.Categorical.from_codes(veto_code, categories=VETOES))
    return out
