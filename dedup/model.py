"""Fellegi-Sunter model: m/u probabilities, match weights, decisions.

* ``u`` (P(level | different people)) comes from random record pairs of the same data set: almost
  all random pairs are different people, so their level frequencies estimate u directly.
* ``m`` (P(level | same person)) comes from high-confidence pairs among the candidates (e.g. same
  first+last name AND same phone). A field's m is only estimated from selections that do not use
  that field (otherwise it would be 1 by construction); a prior keeps small samples sane.
* Match weight = sum over fields of log2(m/u) at the pair's level (missing = 0). For exact
  first/last name agreement, u is replaced by the value's term frequency, so "Smith = Smith" weighs
  less than "Tremblay-Okonkwo = Tremblay-Okonkwo".
* Hard rules on top of the weight (documented, because weights alone merge households):
  different first names never match (households: same address + surname); a merely similar first
  name needs e-mail, phone or birth date evidence (Michael/Michaela at one address); a company-type record
  never matches a person record; a different last name needs same email or birth date.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from dedup.compare import FIELD_NAMES, FIELDS, MISSING, ComparisonCutoffs, compare_pairs

PRIOR_M: dict[str, tuple[float, ...]] = {
    "first_name": (0.02, 0.05, 0.08, 0.85),
    "last_name": (0.03, 0.03, 0.04, 0.90),
    "email": (0.40, 0.03, 0.07, 0.50),
    "phone": (0.35, 0.05, 0.60),
    "street": (0.35, 0.10, 0.55),
    "city": (0.25, 0.05, 0.70),
    "zip5": (0.30, 0.05, 0.65),
    "company": (0.45, 0.10, 0.45),
    "birth_date": (0.03, 0.04, 0.93),
}

# typical u (random-pair agreement) rates: a prior that dominates only on small inputs (file mode)
PRIOR_U: dict[str, tuple[float, ...]] = {
    "first_name": (0.955, 0.005, 0.005, 0.035),
    "last_name": (0.965, 0.005, 0.005, 0.025),
    "email": (0.998, 0.001, 0.0005, 0.0005),
    "phone": (0.994, 0.001, 0.005),
    "street": (0.975, 0.02, 0.005),
    "city": (0.6, 0.01, 0.39),
    "zip5": (0.6, 0.35, 0.05),
    "company": (0.9, 0.05, 0.05),
    "birth_date": (0.95, 0.049, 0.001),
}

DECISIONS = ("match", "possible", "non_match")
VETOES = ("", "first_name_similar_only", "last_name_differs", "company_vs_person", "first_name_differs")

# high-confidence selections: name -> {field: minimum level}
SELECTIONS: dict[str, dict[str, int]] = {
    "names_phone": {"first_name": 3, "last_name": 3, "phone": 2},
    "names_email": {"first_name": 3, "last_name": 3, "email": 3},
    "names_birth": {"first_name": 3, "last_name": 3, "birth_date": 2},
    "email_phone": {"email": 3, "phone": 2},
}


@dataclass
class DedupConfig:
    """Tunable thresholds and weights of the engine (defaults: today's tuned values).

    ``match_threshold``/``possible_threshold`` apply to the posterior log2-odds of a match: the sum of
    field weights (log2 Bayes factors) plus the prior log2-odds that two records are one person,
    log2(2 * duplicates_per_record / records). The prior is what keeps "same common name, nothing
    else" from merging in a million records while it still merges in a small file.
    ``cannot_link_threshold`` applies to the raw weight sum (strong evidence of different people).
    ``comparison``: the comparators' similarity cut-offs (``dedup.compare.ComparisonCutoffs``).
    ``prior_strength``/``u_prior_strength``: pseudo-counts of the m/u priors (``PRIOR_M``/``PRIOR_U``);
    ``exact_u_min_values``: from how many values on a field exact agreement's u is the values'
    collision probability instead of the sampled rate; ``score_chunk``: pairs compared and scored
    per batch (bounds the temporaries' memory).
    """

    match_threshold: float = 1.0
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
    max_block_size: int = 60
    seed: int = 42
    score_chunk: int = 1_000_000
    comparison: ComparisonCutoffs = field(default_factory=ComparisonCutoffs)


@dataclass
class Model:
    m: dict[str, np.ndarray] = field(default_factory=dict)
    u: dict[str, np.ndarray] = field(default_factory=dict)
    prior_log2: float = 0.0

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
        return pd.DataFrame(rows)

    @classmethod
    def from_frame(cls, df: pd.DataFrame) -> Model:
        mod = cls()
        prior = df[df["field"] == "_prior"]
        mod.prior_log2 = float(prior["m"].iloc[0]) if len(prior) else 0.0
        for f, g in df[df["field"] != "_prior"].sort_values(["field", "level"]).groupby("field"):
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


def estimate_m(levels: dict[str, np.ndarray], cfg: DedupConfig) -> dict[str, np.ndarray]:
    """m from high-confidence candidate pairs, per field only from selections not using the field."""
    m = {}
    n = len(next(iter(levels.values()))) if levels else 0
    for spec in FIELDS:
        sel = np.zeros(n, dtype=bool)
        for rule in SELECTIONS.values():
            if spec.name in rule:
                continue
            ok = np.ones(n, dtype=bool)
            for f, lvl in rule.items():
                ok &= levels[f] >= lvl
            sel |= ok
        lv = levels[spec.name][sel]
        lv = lv[lv != MISSING]
        counts = np.bincount(lv, minlength=len(spec.levels)).astype(float)
        prior = np.asarray(PRIOR_M[spec.name])
        m[spec.name] = (counts + cfg.prior_strength * prior) / (counts.sum() + cfg.prior_strength)
    return m


def prior_log2(n_records: int, cfg: DedupConfig) -> float:
    """Prior log2-odds that two records are the same person."""
    lam = min(0.5, 2.0 * cfg.duplicates_per_record / max(n_records, 2))
    return float(np.log2(lam / (1.0 - lam)))


def term_frequencies(prep: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Per record: the share of records with the same value (first name canonical, last name)."""
    out = {}
    for f, key in (("first_name", "first_canon"), ("last_name", "last_name")):
        codes = prep[key + "_code"]
        valid = codes >= 0
        counts = np.bincount(codes[valid]) if valid.any() else np.zeros(1)
        tf = np.zeros(len(codes), dtype=float)
        tf[valid] = counts[codes[valid]] / max(valid.sum(), 1)
        out[f] = tf
    return out


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
    """Per-field weights, total weight, veto reason and decision for compared pairs."""
    w_table = model.weights(cfg)
    if name_email is None:
        name_email = np.zeros(int(max(li.max(initial=0), ri.max(initial=0))) + 1, dtype=bool)
    lo, hi = cfg.weight_clip
    cols: dict[str, np.ndarray] = {}
    total = np.zeros(len(li), dtype=float)
    for spec in FIELDS:
        lv = levels[spec.name]
        w = np.where(lv == MISSING, 0.0, w_table[spec.name][np.maximum(lv, 0)])
        if spec.name == "email":
            # similar local parts are mostly the name again (megan.wilson vs meganwilson): cap it
            partial = (lv == 1) | (lv == 2)
            w[partial] = np.minimum(w[partial], cfg.email_partial_max_weight)
            # the same name-shaped address (lisasmith@...) with the same name: little extra evidence
            names_agree = (levels["first_name"] >= 2) & (levels["last_name"] >= 2)
            namey = (lv == 3) & (name_email[li] | name_email[ri]) & names_agree
            w[namey] = np.minimum(w[namey], cfg.email_partial_max_weight)
        if spec.name in tf:
            top = len(spec.levels) - 1
            exact = lv == top
            u_tf = np.maximum(tf[spec.name][li[exact]], cfg.min_u)
            w[exact] = np.clip(np.log2(model.m[spec.name][top] / u_tf), lo, hi)
        if spec.name in ("city", "zip5"):
            # street, city and ZIP are one piece of evidence: with the same street, don't count thrice
            same_street = levels["street"] == 2
            w[same_street] = np.minimum(w[same_street], 0.0)
        cols[spec.name + "_level"] = lv
        cols[spec.name + "_weight"] = np.round(w, 3).astype(np.float32)
        total += w
    veto_code = np.zeros(len(li), dtype=np.int8)  # index into VETOES ("" = none)
    # a similar-but-not-equal first name (Michael/Michaela, Ronald/Rhonda) at one address is a
    # household until e-mail, phone or birth date says it is one person
    contact = (levels["email"] == 3) | (levels["phone"] >= 1) | (levels["birth_date"] == 2)
    veto_code[(levels["first_name"] >= 1) & (levels["first_name"] < 3) & ~contact] = VETOES.index(
        "first_name_similar_only"
    )
    veto_code[(levels["last_name"] == 0) & (levels["email"] < 3) & (levels["birth_date"] < 2)] = VETOES.index(
        "last_name_differs"
    )
    veto_code[name_type_c[li] != name_type_c[ri]] = VETOES.index("company_vs_person")
    veto_code[levels["first_name"] == 0] = VETOES.index("first_name_differs")
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
