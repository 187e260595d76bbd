"""Per-field comparison of candidate pairs into Fellegi-Sunter agreement levels.

Each field gets a small ordinal scale (0 = disagree ... highest = exact agreement; -1 = a side
is missing, which carries no evidence). Levels are computed in bulk: exact agreement on integer
codes of the values (numpy), fuzzy similarity with ``rapidfuzz.process.cpdist`` over the aligned
left/right arrays (C++, all cores, with a score cutoff) -- never a Python loop over pairs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from rapidfuzz import fuzz, process
from rapidfuzz.distance import JaroWinkler, Levenshtein

from dedup.normalize import canonical_first

MISSING = -1


@dataclass(frozen=True)
class FieldSpec:
    name: str
    levels: tuple[str, ...]  # label per level, index = level value (0 = disagree)


FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec("first_name", ("different", "initial_or_similar", "fuzzy", "exact_or_nickname")),
    FieldSpec("last_name", ("different", "similar", "fuzzy", "exact")),
    FieldSpec("email", ("different", "similar_local_part", "same_local_part", "exact")),
    FieldSpec("phone", ("different", "same_last_7", "exact")),
    FieldSpec("street", ("different", "similar", "exact")),
    FieldSpec("city", ("different", "similar", "exact")),
    FieldSpec("zip5", ("different", "same_zip3", "exact")),
    FieldSpec("company", ("different", "similar", "exact")),
    FieldSpec("birth_date", ("different", "one_part_off", "exact")),
)
FIELD_NAMES = tuple(f.name for f in FIELDS)
FUZZY_FIELDS = ("first_name", "last_name", "street", "city", "company")


def prepare(records: pd.DataFrame) -> dict[str, np.ndarray]:
    """Derive the arrays the comparators need, once per run (not per pair).

    For every field: ``<f>_code`` (int codes, -1 missing); fuzzy fields also ``<f>`` (object array,
    '' for missing).
    Extra derived keys: canonical first name (nicknames), email local part, last 7 phone digits,
    zip3, birth date parts.
    """
    out: dict[str, np.ndarray] = {}

    def put(name: str, s: pd.Series, text: bool = False) -> None:
        s = s.astype("string")
        codes, _ = pd.factorize(s, use_na_sentinel=True)
        out[name + "_code"] = codes.astype(np.int64)
        if text:  # Python strings only where a fuzzy scorer needs them (memory at a million rows)
            out[name] = s.fillna("").to_numpy(dtype=object)

    for f in FIELD_NAMES:
        put(f, records[f] if f in records.columns else pd.Series(pd.NA, index=records.index), f in FUZZY_FIELDS)
    put("first_canon", canonical_first(records["first_name"].astype("string")))
    out["first_len"] = records["first_name"].astype("string").str.len().fillna(0).to_numpy(dtype=np.int16)
    put("first_initial", records["first_name"].astype("string").str.slice(0, 1))
    email = records["email"].astype("string")
    local = email.str.replace(r"@.*$", "", regex=True).str.replace(r"\+.*$", "", regex=True)
    put("email_local", local, True)
    # is the e-mail's local part just the person's name (lisasmith, lsmith, smith.lisa29)? Then an
    # exact e-mail match says little more than the name match (different Lisa Smiths collide)
    alnum = local.str.replace(r"[^a-z]", "", regex=True).fillna("")  # digits too: perez.andrea29
    f = records["first_name"].astype("string").str.replace(r"[^a-z]", "", regex=True).fillna("")
    last = records["last_name"].astype("string").str.replace(r"[^a-z]", "", regex=True).fillna("")
    f1, l1 = f.str.slice(0, 1), last.str.slice(0, 1)
    namey = (alnum != "") & (
        (alnum == f + last) | (alnum == last + f) | (alnum == f1 + last) | (alnum == f + l1) | (alnum == last + f1)
    )
    out["email_is_name"] = namey.fillna(False).to_numpy(dtype=bool)
    put("phone7", records["phone"].astype("string").str.slice(-7))
    put("zip3", records["zip5"].astype("string").str.slice(0, 3))
    bd = records["birth_date"].astype("string")
    put("bd_y", bd.str.slice(0, 4))
    # month and day share one code space so "month of one = day of the other" compares codes
    md_codes, _ = pd.factorize(pd.concat([bd.str.slice(5, 7), bd.str.slice(8, 10)]), use_na_sentinel=True)
    n = len(records)
    out["bd_m_code"], out["bd_d_code"] = md_codes[:n].astype(np.int64), md_codes[n:].astype(np.int64)
    return out


def _sim(a: np.ndarray, b: np.ndarray, scorer, cutoff: float) -> np.ndarray:
    """Bulk similarity of aligned arrays (scores under ``cutoff`` come back as 0)."""
    if len(a) == 0:
        return np.zeros(0, dtype=np.float32)
    return process.cpdist(a, b, scorer=scorer, score_cutoff=cutoff, workers=-1, dtype=np.float32).ravel()


def _eq(p: dict[str, np.ndarray], key: str, li: np.ndarray, ri: np.ndarray) -> np.ndarray:
    cl, cr = p[key + "_code"][li], p[key + "_code"][ri]
    return (cl == cr) & (cl >= 0)


def compare_pairs(p: dict[str, np.ndarray], li: np.ndarray, ri: np.ndarray) -> dict[str, np.ndarray]:
    """Agreement level per field for aligned pair index arrays; returns {field: int8 array}.

    Symmetric by construction: every comparator is symmetric in its two arguments.
    """
    n = len(li)
    res: dict[str, np.ndarray] = {}

    def base(field: str) -> tuple[np.ndarray, np.ndarray]:
        cl, cr = p[field + "_code"][li], p[field + "_code"][ri]
        present = (cl >= 0) & (cr >= 0)
        lvl = np.full(n, MISSING, dtype=np.int8)
        lvl[present] = 0
        return lvl, present

    def fuzzy(field: str, present: np.ndarray, scorer, cutoff: float) -> np.ndarray:
        idx = np.nonzero(present)[0]
        sim = np.zeros(n, dtype=np.float32)
        sim[idx] = _sim(p[field][li[idx]], p[field][ri[idx]], scorer, cutoff)
        return sim

    # first name: exact or nickname-equivalent / JW >= .92 / initial match or JW >= .80
    lvl, present = base("first_name")
    jw = fuzzy("first_name", present, JaroWinkler.normalized_similarity, 0.80)
    init_ok = present & _eq(p, "first_initial", li, ri)
    lens_l, lens_r = p["first_len"][li], p["first_len"][ri]
    lvl[present & ((jw >= 0.80) | (init_ok & ((lens_l == 1) | (lens_r == 1))))] = 1
    lvl[present & (jw >= 0.92)] = 2
    lvl[present & (_eq(p, "first_name", li, ri) | _eq(p, "first_canon", li, ri))] = 3
    res["first_name"] = lvl

    lvl, present = base("last_name")
    jw = fuzzy("last_name", present, JaroWinkler.normalized_similarity, 0.80)
    lvl[present & (jw >= 0.80)] = 1
    lvl[present & (jw >= 0.92)] = 2
    lvl[_eq(p, "last_name", li, ri)] = 3
    res["last_name"] = lvl

    lvl, present = base("email")
    sim = fuzzy("email_local", present, Levenshtein.normalized_similarity, 0.85)
    lvl[present & (sim >= 0.85)] = 1
    lvl[present & _eq(p, "email_local", li, ri)] = 2
    lvl[_eq(p, "email", li, ri)] = 3
    res["email"] = lvl

    lvl, present = base("phone")
    lvl[present & _eq(p, "phone7", li, ri)] = 1
    lvl[_eq(p, "phone", li, ri)] = 2
    res["phone"] = lvl

    lvl, present = base("street")
    sim = fuzzy("street", present, fuzz.token_sort_ratio, 85.0)
    lvl[present & (sim >= 85.0)] = 1
    lvl[_eq(p, "street", li, ri) | (present & (sim >= 97.0))] = 2
    res["street"] = lvl

    lvl, present = base("city")
    sim = fuzzy("city", present, fuzz.ratio, 85.0)
    lvl[present & (sim >= 85.0)] = 1
    lvl[_eq(p, "city", li, ri)] = 2
    res["city"] = lvl

    lvl, present = base("zip5")
    lvl[present & _eq(p, "zip3", li, ri)] = 1
    lvl[_eq(p, "zip5", li, ri)] = 2
    res["zip5"] = lvl

    lvl, present = base("company")
    sim = fuzzy("company", present, fuzz.token_set_ratio, 85.0)
    lvl[present & (sim >= 85.0)] = 1
    lvl[_eq(p, "company", li, ri) | (present & (sim >= 97.0))] = 2
    res["company"] = lvl

    lvl, present = base("birth_date")
    y, m, d = _eq(p, "bd_y", li, ri), _eq(p, "bd_m", li, ri), _eq(p, "bd_d", li, ri)
    # one part off (typo in day/month/year) or day and month swapped
    swapped = (
        (p["bd_m_code"][li] >= 0)
        & (p["bd_m_code"][li] == p["bd_d_code"][ri])
        & (p["bd_d_code"][li] == p["bd_m_code"][ri])
    )
    lvl[present & (((y.astype(int) + m + d) == 2) | (y & swapped))] = 1
    lvl[_eq(p, "birth_date", li, ri)] = 2
    res["birth_date"] = lvl
    return res
