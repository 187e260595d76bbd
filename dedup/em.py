"""m probabilities by expectation-maximisation over candidate pairs (Fellegi-Sunter, no labels).

Why EM: the share of each comparison level among true matches (m) differs per data set (how often
a client's people change e-mail, move, mistype names); it is estimated from the candidate pairs
themselves. u stays fixed (random pairs, ``model.estimate_u``): EM only has to split the
candidates into a match and a non-match class.

Why training sessions (as Splink's "training blocking rules"): candidates found by address include
households whose members agree on surname, street and phone, and EM over all of them happily learns
"a household" as the match class. So each session takes the candidates agreeing on some fields (the
same first and last name; the same e-mail or phone), runs EM there, and keeps m only for the fields
the session did not select on (those are free to vary among its matches). A field estimated in
several sessions takes the mean. The pairs are reduced to distinct level patterns with counts, so
an iteration costs the number of patterns (hundreds), not the number of pairs (millions).

Two rules keep a session's EM from calling everything a match (measured at 1.2M generated records:
lambda 1.0 in every session, m(different first name) 0.53 where the truth is 0.00, precision 0.78):
- the fields a session selects on are left out of its likelihood: they agree in every pair of the
  session, and with u from random pairs (an exact e-mail: 2e-6) they alone would put every pair in
  the match class;
- the contact sessions (same e-mail, same phone) train only on values few records hold
  (``DISTINCT_MAX_RECORDS``): an address many records share ("jsmith@gmail.com" in a million
  records, a company switchboard) brings pairs of different people who agree on the surname too,
  a correlation the random-pair u cannot explain, so EM takes them for one person.
"""

from __future__ import annotations

import numpy as np

from dedup.compare import FIELDS, MISSING

# session name -> {field: minimum level}: which candidates a session trains on
SESSIONS: dict[str, dict[str, int]] = {
    "same_name": {"first_name": 4, "last_name": 4},
    "same_email": {"email": 3},
    "same_phone": {"phone": 3},
    "same_zip": {"zip5": 3},
}


# a contact session's value (e-mail, phone) counts as distinctive when at most this many records hold
# it: one person's Archtics accounts, names and CRM contact (a family mailbox still qualifies)
DISTINCT_MAX_RECORDS = 4


def _patterns(levels: dict[str, np.ndarray], sel: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct level patterns of the selected pairs (fields x patterns, missing = -1) and counts."""
    mat = np.stack([levels[f.name][sel].astype(np.int16) + 1 for f in FIELDS])  # 0 = missing
    if mat.shape[1] == 0:
        return mat - 1, np.zeros(0)
    base = np.array([len(f.levels) + 1 for f in FIELDS], dtype=np.int64)
    mult = np.concatenate([[1], np.cumprod(base[:-1])])
    codes = (mat.astype(np.int64) * mult[:, None]).sum(axis=0)
    uniq, first, counts = np.unique(codes, return_index=True, return_counts=True)
    return mat[:, first] - 1, counts.astype(float)


def _log_lik(pat: np.ndarray, probs: dict[str, np.ndarray], skip: frozenset[str] = frozenset()) -> np.ndarray:
    out = np.zeros(pat.shape[1])
    for i, f in enumerate(FIELDS):
        if f.name in skip:
            continue
        lv = pat[i]
        ok = lv != MISSING
        out[ok] += np.log(probs[f.name][lv[ok]])
    return out


def run_em(
    pat: np.ndarray,
    counts: np.ndarray,
    m0: dict[str, np.ndarray],
    u: dict[str, np.ndarray],
    prior_m: dict[str, np.ndarray],
    prior_strength: float,
    iterations: int = 25,
    skip: frozenset[str] = frozenset(),
) -> tuple[dict[str, np.ndarray], float]:
    """EM over level patterns with counts; u fixed. Returns m and the match share lambda.
    ``skip``: fields left out of the likelihood (a session's selecting fields)."""
    m = {k: v.copy() for k, v in m0.items()}
    lam = 0.3
    for _ in range(iterations):
        lm, lu = _log_lik(pat, m, skip), _log_lik(pat, u, skip)
        logit = np.log(lam) + lm - np.log1p(-lam) - lu
        p = 1.0 / (1.0 + np.exp(-np.clip(logit, -50, 50)))
        w = p * counts
        lam = float(np.clip(w.sum() / max(counts.sum(), 1.0), 1e-6, 1 - 1e-6))
        for i, f in enumerate(FIELDS):
            lv = pat[i]
            ok = lv != MISSING
            tot = np.bincount(lv[ok], weights=w[ok], minlength=len(f.levels))
            m[f.name] = (tot + prior_strength * prior_m[f.name]) / (tot.sum() + prior_strength)
    return m, lam


def estimate_m_em(
    levels: dict[str, np.ndarray],
    u: dict[str, np.ndarray],
    prior_m: dict[str, np.ndarray],
    prior_strength: float,
    value_records: dict[str, np.ndarray] | None = None,
) -> dict[str, np.ndarray]:
    """m per field: EM per training session, each field from the sessions not selecting on it.

    ``value_records``: per pair and contact field, how many records hold the left record's value
    (a session on that field keeps the pairs with at most ``DISTINCT_MAX_RECORDS``)."""
    n = len(next(iter(levels.values()))) if levels else 0
    found: dict[str, list[np.ndarray]] = {f.name: [] for f in FIELDS}
    first_by_session: dict[str, np.ndarray] = {}
    for session, rule in SESSIONS.items():
        sel = np.ones(n, dtype=bool)
        for f, lvl in rule.items():
            sel &= levels[f] >= lvl
            if value_records is not None and f in value_records:
                sel &= value_records[f] <= DISTINCT_MAX_RECORDS
        if sel.sum() < 2:
            continue
        pat, counts = _patterns(levels, sel)
        m, _ = run_em(pat, counts, prior_m, u, prior_m, prior_strength, skip=frozenset(rule))
        for f in FIELDS:
            if f.name not in rule:
                found[f.name].append(m[f.name])
        if "first_name" not in rule:
            first_by_session[session] = m["first_name"]
    # the first name from the contact sessions when there are any: pairs found by ZIP include
    # households, whose different first names EM would take for one person's
    contact = [m for name, m in first_by_session.items() if name != "same_zip"]
    if contact:
        found["first_name"] = contact
    return {f: (np.mean(v, axis=0) if v else prior_m[f].copy()) for f, v in found.items()}


def candidate_match_share(
    levels: dict[str, np.ndarray], m: dict[str, np.ndarray], u: dict[str, np.ndarray], iterations: int = 30
) -> float:
    """The share of candidate pairs that are matches, by EM with m and u fixed (lambda only).

    Why: the prior that two records are one person differs per data set (a file that is half
    duplicates, a CRM with few); with it estimated, the decision threshold -- a posterior match
    probability -- is the fitted model's, not a constant's.
    """
    n = len(next(iter(levels.values()))) if levels else 0
    if n == 0:
        return 0.0
    pat, counts = _patterns(levels, np.ones(n, dtype=bool))
    bayes = _log_lik(pat, m) - _log_lik(pat, u)
    lam = 0.1
    for _ in range(iterations):
        logit = np.log(lam) - np.log1p(-lam) + bayes
        p = 1.0 / (1.0 + np.exp(-np.clip(logit, -50, 50)))
        lam = float(np.clip((p * counts).sum() / counts.sum(), 1e-9, 1 - 1e-9))
    return lam
