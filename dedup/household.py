"""Households: two people sharing a surname and an address (often a landline), told apart by evidence.

Fellegi-Sunter assumes the fields agree independently; household members break that: surname,
street, city, ZIP and phone agree *together* for people who are not one another. So a pair in the
household context (surname and street or phone shared, first names different or merely similar) is
not scored field by field: its odds come from the household model fitted on the data's own
household-context pairs (``fit_household_odds``), and only the evidence outside the household
(e-mail, birth date, company) adds to them. A data set whose household-context pairs are nearly all
one person with a mistyped first name (FEBRL) gets mild odds; one with many families (a club's
ticket buyers) gets strongly negative odds that an e-mail or birth date has to overcome.
"""

from __future__ import annotations

import numpy as np

# the fields a household shares: their weights are replaced by the household odds in that context
SHARED = ("first_name", "last_name", "street", "city", "zip5", "phone")
SAME_NAME_LEVEL = 4  # first-name levels >= this (nickname, swapped, exact): almost always one person


def context(levels: dict[str, np.ndarray]) -> np.ndarray:
    """Surname agrees (fuzzy or exact) and the street or the phone is shared."""
    last = levels["last_name"]
    return (last >= 2) & (last != 3) & ((levels["street"] >= 1) | (levels["phone"] == 3))


def household(
    levels: dict[str, np.ndarray],
    first_count_l: np.ndarray | None = None,
    first_count_r: np.ndarray | None = None,
    min_count: float = 2.0,
) -> np.ndarray:
    """Pairs that look like two members of one household: first names differ (different .. fuzzy),
    the surname agrees (fuzzy or exact), and the street or the phone is shared.

    A merely similar first name (Michael/Michaela, Linh/Minh) counts as a household member's only
    when both spellings are established names of the data set (``first_count_*``: records holding
    each, at least ``min_count``): a typo ("Jaen") is a rare value, a sibling's name is not.
    """
    first = levels["first_name"]
    hh = (first >= 0) & (first < SAME_NAME_LEVEL) & context(levels)
    if first_count_l is not None and first_count_r is not None:
        established = (first_count_l >= min_count - 0.5) & (first_count_r >= min_count - 0.5)
        hh &= (first == 0) | established
    return hh


def fit_household_odds(levels: dict[str, np.ndarray], m_first: np.ndarray, min_pairs: int = 300) -> np.ndarray:
    """Posterior log2-odds of one person per first-name level, for pairs in the household context.

    Among candidate pairs sharing surname and address: the pairs with the same first name (levels
    >= ``SAME_NAME_LEVEL``) are nearly all one person, so the context's matches are that count over
    m of those levels; the rest are household members, whose first-name levels give u in context.
    Odds(level) = matches * m(level) / (non-matches * u_hh(level)). Empty when fewer than
    ``min_pairs`` context pairs (then ``DedupConfig.household_weight`` applies).
    """
    first = levels["first_name"]
    ctx = context(levels) & (first >= 0)
    if int(ctx.sum()) < min_pairs:
        return np.zeros(0)
    counts = np.bincount(first[ctx], minlength=len(m_first)).astype(float)
    matches = counts[SAME_NAME_LEVEL:].sum() / max(float(m_first[SAME_NAME_LEVEL:].sum()), 0.5)
    non = max(counts.sum() - matches, 1.0)
    u_hh = np.maximum(counts - matches * m_first, 0.5) / non
    return np.log2(np.maximum(matches, 0.5) * m_first / (non * u_hh))


def household_first_weight(
    levels: dict[str, np.ndarray],
    weights: dict[str, np.ndarray],
    hh: np.ndarray,
    odds: np.ndarray,
    prior_log2: float,
) -> np.ndarray:
    """First-name weight of household-context pairs such that the shared fields together contribute
    the household odds (minus the prior, which the total adds back)."""
    shared = sum(weights[f][hh] for f in SHARED if f != "first_name")
    return odds[levels["first_name"][hh]] - prior_log2 - shared
