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

from dedup.compare import level as _level

# the fields a household shares: their weights are replaced by the household odds in that context
SHARED = ("first_name", "last_name", "street", "city", "zip5", "phone")
# first-name levels >= this (nickname, swapped, exact): almost always one person; but two established
# names at the nickname level in a household context are not (see ``household``)
SAME_NAME_LEVEL = NICKNAME_LEVEL = _level("first_name", "nickname")
# the first-name levels of a merely initial / similar / fuzzy spelling (an established-name pair there
# may be two family members' names: ``categories``)
INITIAL_LEVEL = _level("first_name", "initial")


def context(levels: dict[str, np.ndarray]) -> np.ndarray:
    """Surname agrees (fuzzy or exact) and the street or the phone is shared."""
    last = levels["last_name"]
    return (last >= 2) & (last != 3) & ((levels["street"] >= 1) | (levels["phone"] == 3))


def name_counts(tf_first: np.ndarray, n_records: float) -> np.ndarray:
    """Records holding each record's first name: its term frequency (a share among the records WITH a
    first name) times their number, estimated from the records at hand. Why not times all records: in
    a four-row file with two named rows, Robert and Bob are held by one record each, not two."""
    named = float((tf_first > 0).mean()) if len(tf_first) else 1.0
    return tf_first * n_records * named


def established_names(count_l: np.ndarray, count_r: np.ndarray, min_count: float = 2.0) -> np.ndarray:
    """Both first names of a pair are established names of the data: held by >= ``min_count`` records."""
    return (count_l >= min_count - 0.5) & (count_r >= min_count - 0.5)


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
    each, at least ``min_count``): a typo ("Jaen") is a rare value, a sibling's name is not. So does
    a nickname pair of two established names (James / Jim, John / Jonathan, William / Billy: a
    father and son at one address carry such names as often as one person does); a shared phone
    still counts for them (``dedup.model.field_weights``), a landline is then one person's number.
    """
    first = levels["first_name"]
    similar = (first >= 0) & (first < SAME_NAME_LEVEL)
    if first_count_l is None or first_count_r is None:
        return similar & context(levels)
    est = established_names(first_count_l, first_count_r, min_count)
    return ((first == 0) | ((similar | (first == NICKNAME_LEVEL)) & est)) & context(levels)


def categories(first: np.ndarray, established: np.ndarray | None, n_levels: int) -> np.ndarray:
    """The household model's category of a pair: its first-name level, except that a pair of merely
    initial/similar/fuzzy first names whose spellings are both established names of the data
    (``established``) is its own category, level + ``n_levels``: Regina/Reginald are two people's
    names, Regina/Reginq is one person's typo, and the data says how often each is one person."""
    cat = first.astype(np.int64)
    if established is not None:
        shift = established & (first >= INITIAL_LEVEL) & (first < SAME_NAME_LEVEL)
        cat = np.where(shift, cat + n_levels, cat)
    return cat


def _context_matches(level_counts: np.ndarray, m: np.ndarray, one_person_from: int = SAME_NAME_LEVEL) -> float:
    """Matches among a context's pairs: those at the levels from ``one_person_from`` up (nearly all one
    person: the same first name in a household context) over m of those levels."""
    return float(level_counts[one_person_from:].sum() / max(float(m[one_person_from:].sum()), 0.5))


def sibling_levels(
    levels: dict[str, np.ndarray], m_first: np.ndarray, established: np.ndarray, max_excess: float = 2.0
) -> np.ndarray:
    """Per first-name level: do the context pairs of two established, merely similar names (Regina /
    Reginald, Kristen / Kristie at one address) exceed ``max_excess`` times the matches expected at
    that level? Then they are a family's names, and ``DedupConfig.household_weight`` keeps them apart.

    Why per level and from the data: the fitted odds of that category assume the matches split
    between established names and typos as the context's pairs do, which siblings break (they would
    be credited with the matches' rate). But where the data holds few of them -- FEBRL, whose typo
    variants ("thoms", "hanah") recur often enough to be established -- they are the matches' own
    typos, and a fixed penalty on them lost 34 true pairs of FEBRL4's 5,000 (recall 0.949).
    """
    first = levels["first_name"]
    n_lv = len(m_first)
    ctx = context(levels) & (first >= 0)
    level_counts = np.bincount(first[ctx], minlength=n_lv).astype(float)
    est = np.bincount(first[ctx & established], minlength=n_lv).astype(float)
    expected = _context_matches(level_counts, m_first) * m_first
    out = est > max_excess * np.maximum(expected, 1.0)
    out[:INITIAL_LEVEL] = False  # different (or crossed) first names: the fitted odds of their level, always
    # two established names that are nicknames of one another (James / Jim): a father and son carry
    # them as often as one person does, and the data cannot tell (both read as the same name)
    out[SAME_NAME_LEVEL:] = True
    return out


def fit_household_odds(
    levels: dict[str, np.ndarray],
    m_first: np.ndarray,
    min_pairs: int = 300,
    established: np.ndarray | None = None,
    max_excess: float = 2.0,
) -> np.ndarray:
    """Posterior log2-odds of one person per household category, for pairs in the household context.

    Among candidate pairs sharing surname and address: the pairs with the same first name (levels
    >= ``SAME_NAME_LEVEL``) are nearly all one person, so the context's matches are that count over
    m of those levels; the rest are household members, whose categories give u in context.
    Odds(category) = matches * m(level) * share(category | level) / (non-matches * u_hh(category)),
    ``share`` the category's part of its level's pairs (``categories``: established names split from
    typos). Empty -- ``DedupConfig.household_weight`` applies -- when fewer than ``min_pairs``
    context pairs, or when the context holds more than ``max_excess`` times the different-first-name
    pairs its matches explain (households: FEBRL has about 0.5-1.2 times, a club's buyers 5 times).
    """
    first = levels["first_name"]
    ctx = context(levels) & (first >= 0)
    if int(ctx.sum()) < min_pairs:
        return np.zeros(0)
    n_lv = len(m_first)
    level_counts = np.bincount(first[ctx], minlength=n_lv).astype(float)
    expected = _context_matches(level_counts, m_first) * m_first[0]
    if level_counts[0] > max_excess * max(expected, 1.0):
        # far more different first names at shared addresses than the matches' own rate of a
        # different first name explains: the data holds households, and the subtraction below
        # (u_hh = what the matches do not explain) would credit the families' pairs with that
        # rate, measured on other pairs (a family mailbox's). The configured weight applies.
        return np.zeros(0)
    est = None if established is None else established[ctx]
    cat = categories(first[ctx], est, n_lv)
    counts = np.bincount(cat, minlength=2 * n_lv).astype(float)
    per_level = counts[:n_lv] + counts[n_lv:]
    matches = _context_matches(per_level, m_first)
    non = max(per_level.sum() - matches, 1.0)
    # matches expected per category: m of its level, split between the level's two categories by
    # their shares among the level's pairs (matches do not choose whether a name is established)
    share = counts / np.maximum(np.concatenate([per_level, per_level]), 1.0)
    share[:n_lv][per_level == 0] = 1.0
    m_cat = np.concatenate([m_first, m_first]) * share
    u_hh = np.maximum(counts - matches * m_cat, 0.5) / non
    odds = np.log2(np.maximum(matches, 0.5) * np.maximum(m_cat, 1e-9) / (non * u_hh))
    # a category without pairs here (an incremental run may meet one) takes its level's pooled odds
    u_lv = np.maximum(per_level - matches * m_first, 0.5) / non
    pooled = np.log2(np.maximum(matches, 0.5) * np.maximum(m_first, 1e-9) / (non * u_lv))
    return np.where(counts > 0, odds, np.concatenate([pooled, pooled]))


def household_first_weight(
    levels: dict[str, np.ndarray],
    weights: dict[str, np.ndarray],
    hh: np.ndarray,
    odds: np.ndarray,
    prior_log2: float,
    established: np.ndarray | None = None,
) -> np.ndarray:
    """First-name weight of household-context pairs such that the shared fields together contribute
    the household odds (minus the prior, which the total adds back). ``odds`` of a model fitted
    before the established-name split (one value per level) are read per level."""
    shared = sum(weights[f][hh] for f in SHARED if f != "first_name")
    first = levels["first_name"][hh]
    n_lv = len(odds) // 2 if established is not None and len(odds) > SAME_NAME_LEVEL + 3 else len(odds)
    cat = categories(first, None if n_lv == len(odds) else established[hh], n_lv)
    return odds[cat] - prior_log2 - shared


# ---- a surname change at one address ----------------------------------------------------------
FIRST_FUZZY, LAST_FUZZY = _level("first_name", "fuzzy"), _level("last_name", "fuzzy")
STREET_EXACT, CITY_EXACT, ZIP_EXACT = _level("street", "exact"), _level("city", "exact"), _level("zip5", "exact")


def at_one_address(levels: dict[str, np.ndarray]) -> np.ndarray:
    """The street exact and the ZIP or the town exact."""
    return (levels["street"] == STREET_EXACT) & ((levels["zip5"] == ZIP_EXACT) | (levels["city"] == CITY_EXACT))


def one_first_name_at_one_address(levels: dict[str, np.ndarray]) -> np.ndarray:
    """One first name -- exact, or a typo or nickname of it (fuzzy and up: "brianna" / "briana") --,
    the street exact and the ZIP or the town exact."""
    return (levels["first_name"] >= FIRST_FUZZY) & at_one_address(levels)


def renamed(levels: dict[str, np.ndarray]) -> np.ndarray:
    """Pairs of one first name at one address whose surnames differ: a surname changed (a marriage),
    or two people of one first name living together (rare: a father and son share the surname)."""
    return one_first_name_at_one_address(levels) & (levels["last_name"] == 0)


def fit_renamed_odds(
    levels: dict[str, np.ndarray], m_last: np.ndarray, min_pairs: int = 100, max_excess: float = 2.0
) -> np.ndarray:
    """Posterior log2-odds of one person for a ``renamed`` pair, from the data's own pairs of one first
    name at one address; empty when fewer than ``min_pairs`` such pairs, or when they hold more than
    ``max_excess`` times the different surnames their matches explain (then they are people living
    together, and the fields' own weights apply).

    Why fitted: first name, street, town and ZIP agree *together* for such a pair, and the surname's u
    from random pairs (0.99 differ) is not its rate among the few people who share an address and a
    first name. The pairs whose surname also agrees (fuzzy, swapped or exact) are nearly all one
    person: the context's matches are their count over m of those levels; the different surnames
    beyond ``matches * m_last[different]`` are other people, as in ``fit_household_odds``.
    """
    ctx = one_first_name_at_one_address(levels) & (levels["last_name"] >= 0)
    if int(ctx.sum()) < min_pairs:
        return np.zeros(0)
    counts = np.bincount(levels["last_name"][ctx], minlength=len(m_last)).astype(float)
    matches = _context_matches(counts, m_last, LAST_FUZZY)
    return _fitted_odds(float(counts.sum()), matches, float(counts[0]), float(m_last[0]), max_excess)


def renamed_both(levels: dict[str, np.ndarray]) -> np.ndarray:
    """Pairs at one address whose first names and surnames both differ: two people living together
    (a couple, flatmates), or one person whose two names were both mistyped or replaced -- FEBRL's
    error model makes such duplicates; a club's buyers hold couples."""
    return at_one_address(levels) & (levels["first_name"] == 0) & (levels["last_name"] == 0)


def fit_renamed_both_odds(
    levels: dict[str, np.ndarray],
    m_first: np.ndarray,
    m_last: np.ndarray,
    min_pairs: int = 100,
    max_excess: float = 2.0,
) -> np.ndarray:
    """Posterior log2-odds of one person for a ``renamed_both`` pair, from the data's own pairs at one
    address; empty when fewer than ``min_pairs`` such pairs, or when the pairs of two different names
    exceed ``max_excess`` times what the matches explain (then they are people living together --
    couples, flatmates -- and the fields' own weights apply).

    As ``fit_renamed_odds``: the pairs at one address whose first name (nickname, swapped or exact)
    and surname (fuzzy, swapped or exact) agree are nearly all one person, so the context's matches
    are their count over m of those levels; the matches with both names different number
    ``matches * m_first[different] * m_last[different]`` (the two names' errors independent, as EM
    assumes), and the rest of such pairs are other people. On FEBRL, whose pairs at one address are
    all one person's, it fits +3 (FEBRL2) to +6 (FEBRL4) bits; with few pairs (FEBRL1: 2 against 0.8
    expected) the odds stay under the match threshold."""
    first, last = levels["first_name"], levels["last_name"]
    ctx = at_one_address(levels) & (first >= 0) & (last >= 0)
    if int(ctx.sum()) < min_pairs:
        return np.zeros(0)
    first_same, last_same = ctx & (first >= SAME_NAME_LEVEL), ctx & (last >= LAST_FUZZY)
    matches = int((first_same & last_same).sum()) / max(
        float(m_first[SAME_NAME_LEVEL:].sum() * m_last[LAST_FUZZY:].sum()), 0.25
    )
    # each name's rate of being different as the context shows it where the other name agrees: where
    # the data holds couples and no e-mail or phone, EM takes their pairs at one address for matches
    # of two different names, and its m alone would explain the couples away. The count must fit both
    rate_first = float((last_same & (first == 0)).sum()) / max(float(last_same.sum()), 1.0)
    rate_last = float((first_same & (last == 0)).sum()) / max(float(first_same.sum()), 1.0)
    observed = float((ctx & (first == 0) & (last == 0)).sum())
    m_both = float(m_first[0] * m_last[0])
    if observed > max_excess * max(matches * min(m_both, rate_first * rate_last), 1.0):
        return np.zeros(0)
    return _fitted_odds(float(ctx.sum()), matches, observed, m_both, max_excess)


def _fitted_odds(pairs: float, matches: float, observed: float, m_level: float, max_excess: float) -> np.ndarray:
    """The log2-odds of one person at a level of a context holding ``pairs`` pairs, ``matches`` of them
    one person, ``observed`` at that level: the matches there are ``matches * m_level``, the rest other
    people; empty when ``observed`` exceeds ``max_excess`` times the matches' share (see callers)."""
    expected = matches * m_level
    if observed > max_excess * max(expected, 1.0):
        return np.zeros(0)
    non = max(pairs - matches, 1.0)
    u_ctx = max(observed - expected, 0.5) / non
    return np.array([np.log2(max(matches, 0.5) * max(m_level, 1e-9) / (non * u_ctx))])
