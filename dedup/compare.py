"""Per-field comparison of candidate pairs into Fellegi-Sunter agreement levels.

Each field gets a small ordinal scale (0 = disagree ... highest = exact agreement; -1 = a side
is missing, which carries no evidence). Levels are computed in bulk: exact agreement on integer
codes of the values (numpy), fuzzy similarity with ``rapidfuzz.process.cpdist`` over the aligned
left/right arrays (C++, all cores, with a score cutoff) -- never a Python loop over pairs.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from rapidfuzz import fuzz, process
from rapidfuzz.distance import OSA, JaroWinkler, Levenshtein

from dedup.arrays import arrow_text, member, text_series
from dedup.normalize import first_token, related_first_names, token_sorted

MISSING = -1


@dataclass(frozen=True)
class FieldSpec:
    name: str
    levels: tuple[str, ...]  # label per level, index = level value (0 = disagree)


FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec("first_name", ("different", "crossed", "initial", "similar", "fuzzy", "nickname", "swapped", "exact")),
    FieldSpec("last_name", ("different", "similar", "fuzzy", "swapped", "exact")),
    FieldSpec("email", ("different", "similar_local_part", "same_local_part", "exact")),
    FieldSpec("phone", ("different", "same_last_7", "one_edit_or_transposed", "exact")),
    FieldSpec("street", ("different", "similar", "exact")),
    FieldSpec("city", ("different", "similar", "exact")),
    FieldSpec("zip5", ("different", "same_zip3", "one_edit_or_transposed", "exact")),
    FieldSpec("company", ("different", "similar", "exact")),
    FieldSpec("birth_date", ("different", "one_part_off", "exact")),
)
FIELD_NAMES = tuple(f.name for f in FIELDS)


def level(field_name: str, label: str) -> int:
    """The value of a field's level by its label (``FIELDS``): code names levels, never numbers them."""
    return FIELDS[FIELD_NAMES.index(field_name)].levels.index(label)


FUZZY_FIELDS = ("first_name", "last_name", "street", "city", "company", "zip5", "phone")
# fields whose exact agreement is weighed by the value's frequency (a shared family mailbox, a
# switchboard phone, a company's address or a common surname say less than a distinctive value)
TF_FIELDS = ("first_name", "last_name", "email", "phone", "street", "company")
ONE_EDIT_FIELDS = ("first_name", "last_name", "phone", "zip5")
SQUASHED_FIELDS = ("first_name", "last_name", "street")  # exact also without separators (``prepare``)
STREET_HEADS = 4  # the longest first address line (in words) compared with the head of a longer one
SQUASH = r"[\s\-'.]"
DIGIT_FIELDS = ("phone", "zip5")  # short ASCII codes: one edit between equal lengths is found in numpy


def prepare(records: pd.DataFrame, threads: int = 2) -> dict[str, np.ndarray]:
    """Derive the arrays the comparators need, once per run (not per pair).

    For every field: ``<f>_code`` (int codes, -1 missing); fuzzy fields also ``<f>`` (object array,
    '' for missing).
    Extra derived keys: first-name tokens and the token pairs that are nicknames of one another, email local part, last 7 phone digits,
    zip3, birth date parts. ``threads``: two or more derive the two independent halves at once.
    """
    out: dict[str, np.ndarray] = {}
    halves = (_prepare_fields, _prepare_derived)
    if threads <= 1:
        for half in halves:
            half(records, out)
        return out
    # each half writes its own keys: Arrow's and pandas' string kernels release the GIL for much of
    # their work (235k records: ~1.4 s on one thread, ~1.0 s on two)
    with ThreadPoolExecutor(2) as pool:
        for done in [pool.submit(half, records, out) for half in halves]:
            done.result()
    return out


def _put(out: dict[str, np.ndarray], name: str, s: pd.Series, text: bool = False) -> pd.Index:
    """``<name>_code`` (and with ``text`` the values as Python strings) into ``out``; returns the
    distinct values, in code order."""
    s = s.astype("string")
    codes, uniques = pd.factorize(s, use_na_sentinel=True)
    out[name + "_code"] = codes.astype(np.int64)
    if text:  # Python strings only where a fuzzy scorer needs them (memory at a million rows)
        out[name] = s.fillna("").to_numpy(dtype=object)
    return uniques


def _prepare_fields(records: pd.DataFrame, out: dict[str, np.ndarray]) -> None:
    """Every field's codes (``prepare``), the squashed codes and the street's derived texts."""
    put = partial(_put, out)

    for f in FIELD_NAMES:
        uniques = put(
            f, records[f] if f in records.columns else pd.Series(pd.NA, index=records.index), f in FUZZY_FIELDS
        )
        if f in SQUASHED_FIELDS:
            # the values without their spaces, hyphens, apostrophes and dots: "h o" / "ho", "mc donald"
            # / "mcdonald", "bay view" / "bayview" are one spelling typed two ways (exact agreement)
            out[f + "_sq_code"] = _squashed_codes(out[f + "_code"], uniques)
        if f == "street":
            # each street's words in sorted order, made once per distinct street: the token-sort ratio
            # is the plain ratio of these (rapidfuzz's token_sort_ratio sorted both texts per pair)
            out["street_sorted"] = np.array([*token_sorted(uniques), ""], dtype=object)[out["street_code"]]
            _street_heads(out, uniques)


def _prepare_derived(records: pd.DataFrame, out: dict[str, np.ndarray]) -> None:
    """The comparators' other keys (``prepare``): name tokens and nicknames, swaps, street start,
    one-edit filters, digits, e-mail local part, phone7, zip3, birth-date parts."""
    put = partial(_put, out)

    first = records["first_name"].astype("string")
    # nicknames (many-to-many: Jake -> jacob, jakob): the first tokens as codes, and the sorted keys
    # tok_a * n + tok_b of the token pairs that share a reading (``related_first_names``)
    tok = first_token(first)
    tok_codes, tok_values = pd.factorize(tok, use_na_sentinel=True)
    out["first_tok_code"] = tok_codes.astype(np.int64)
    pos = {t: i for i, t in enumerate(tok_values)}
    rel = related_first_names(list(tok_values))
    keys = np.array([pos[a] * len(tok_values) + pos[b] for a, b in rel], dtype=np.int64)
    out["nickname_pair_keys"] = np.sort(keys)
    # first and last name in one code space: "first of one = last of the other" compares codes (swaps)
    fl_codes, _ = pd.factorize(
        pd.concat([records["first_name"].astype("string"), records["last_name"].astype("string")]),
        use_na_sentinel=True,
    )
    n_rec = len(records)
    out["first_x_code"], out["last_x_code"] = fl_codes[:n_rec].astype(np.int64), fl_codes[n_rec:].astype(np.int64)
    out["street_len"] = records["street"].astype("string").str.len().fillna(0).to_numpy(dtype=np.int32)
    # the house number and the street's first word ("33 eungella"): a second address line present on
    # one side only leaves this start equal
    put("street_start", street_start(records["street"]))
    # what a one-edit comparison (``_one_edit``) filters on, once per record, not per pair: the length
    # and the first and last characters (one edit leaves one of the two ends as it was)
    for f in ONE_EDIT_FIELDS:
        s = records[f].astype("string")
        out[f + "_len"] = s.str.len().fillna(0).to_numpy(dtype=np.int16)
        put(f + "_head", s.str.slice(0, 1))
        put(f + "_tail", s.str.slice(-1))
    for f in DIGIT_FIELDS:
        chars = _char_matrix(records[f].astype("string"), int(out[f + "_len"].max(initial=0)))
        if chars is not None:
            out[f + "_chars"] = chars
    put("first_initial", records["first_name"].astype("string").str.slice(0, 1))
    email = records["email"].astype("string")
    local = email.str.replace(r"@.*$", "", regex=True).str.replace(r"\+.*$", "", regex=True)
    put("email_local", local, True)
    # is the e-mail's local part just the person's name (lisasmith, lsmith, smith.lisa)? Then an exact
    # e-mail match says little more than the name match (different Lisa Smiths collide on big
    # providers). A local part with more than the name (dennis.ellis51) is distinctive: not capped
    alnum = local.str.replace(r"[^a-z0-9]", "", regex=True).fillna("")
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


STREET_START = r"^(\d+\w* \S+)"  # the house number and the street's first word
# the same pattern for Arrow's RE2 on ASCII text, where Python's \d and \w are RE2's; Python's \s
# also takes \v and \x1c-\x1f, so \S is spelt out
_STREET_START_RE2 = r"^(?P<start>\d+\w* [^ \t\n\r\f\v\x1c-\x1f]+)"


def street_start(streets: pd.Series) -> pd.Series:
    """Each street's ``STREET_START`` (null where there is none), as pandas ``string``.

    Why Arrow: pandas' ``str.extract`` runs Python's ``re`` row by row (~0.4 s per 235k records: an
    incremental run's neighbourhood); Arrow's RE2 gives the same text on ASCII streets (the
    normalised ones always are) and pandas takes any other."""
    arr = arrow_text(streets)
    if pc.all(pc.string_is_ascii(arr)).as_py() is False:
        return streets.astype("string").str.extract(STREET_START, expand=False)
    return text_series(pc.struct_field(pc.extract_regex(arr, _STREET_START_RE2), [0]), streets.index)


def _street_heads(out: dict[str, np.ndarray], streets: pd.Index) -> None:
    """Each record's number of street words (``street_words``) and, where it has more than k, its first
    k words for k = 2..STREET_HEADS (``street_head<k>_code`` per record, ``street_head<k>`` the text
    per distinct head): a second address line on one side only, together with a typo in the first
    ("12 steffanonui circuit" / "12 steffanoni circuit stonehouse"). Made once per distinct street
    (``streets``, the values ``street_code`` numbers), as ``street_sorted``; no Python string per record."""
    code = out["street_code"]  # -1 (missing) takes the appended last entry below
    words = pc.split_pattern(arrow_text(pd.Series(streets, dtype="string")), " ")
    count = pc.fill_null(pc.list_value_length(words), 0).to_numpy(zero_copy_only=False)
    out["street_words"] = np.append(count, 0).astype(np.int16)[code]
    for k in range(2, STREET_HEADS + 1):
        head = pc.binary_join(pc.list_slice(words, 0, k), pa.scalar(" ", pa.large_string()))
        head = pc.if_else(pc.greater(pc.list_value_length(words), k), head, pa.scalar(None, head.type))
        head_codes, heads = pd.factorize(text_series(head, pd.RangeIndex(len(streets))), use_na_sentinel=True)
        out[f"street_head{k}_code"] = np.append(head_codes, -1).astype(np.int64)[code]
        out[f"street_head{k}"] = np.asarray(heads, dtype=object)


def _squashed_codes(codes: np.ndarray, uniq: pd.Index) -> np.ndarray:
    """Codes of the values without separators (``SQUASH``; -1 missing or nothing left), from a field's
    codes and distinct values, with Arrow's regex (a per-row pandas replace took 1.5 s per field at 1.2M)."""
    if not len(uniq):
        return codes
    sq = pc.replace_substring_regex(pa.array(np.asarray(uniq, dtype=object), type=pa.string()), SQUASH, "")
    sq_codes = pc.dictionary_encode(sq).indices.to_numpy(zero_copy_only=False).astype(np.int64)
    sq_codes[pc.equal(sq, "").to_numpy(zero_copy_only=False)] = -1
    return np.where(codes >= 0, sq_codes[np.maximum(codes, 0)], -1).astype(np.int64)


def _char_matrix(s: pd.Series, longest: int) -> np.ndarray | None:
    """Per record the value's bytes, zero-padded to ``longest`` (the longest value's length; uint8,
    records x width); None when a value is not ASCII (the comparison then takes the general path)."""
    vals = s.fillna("").to_numpy(dtype=object)
    width = max(longest, 1)
    try:
        chars = np.array(vals, dtype=f"S{width}")
    except UnicodeEncodeError:
        return None
    return chars.view(np.uint8).reshape(len(vals), width)


def _same_length_one_edit(chars: np.ndarray, li: np.ndarray, ri: np.ndarray, chunk: int = 1 << 20) -> np.ndarray:
    """Pairs of equal-length values at most one substitution or one transposition of neighbours apart
    (their OSA distance <= 1), from the values' byte matrix: no Python string per pair."""
    out = np.zeros(len(li), dtype=bool)
    width = chars.shape[1]
    for s in range(0, len(li), chunk):
        a, b = chars[li[s : s + chunk]], chars[ri[s : s + chunk]]
        d = a != b
        k = d.sum(axis=1)
        one = k <= 1
        two = np.nonzero(k == 2)[0]
        if len(two) and width > 1:
            p = np.argmax(d[two], axis=1)  # the first differing position; a swap needs the next one
            q = np.minimum(p + 1, width - 1)
            one[two] = (q > p) & d[two, q] & (a[two, p] == b[two, q]) & (a[two, q] == b[two, p])
        out[s : s + chunk] = one
    return out


def _sim(a: np.ndarray, b: np.ndarray, scorer, cutoff: float) -> np.ndarray:
    """Bulk similarity of aligned arrays (scores under ``cutoff`` come back as 0)."""
    if len(a) == 0:
        return np.zeros(0, dtype=np.float32)
    return process.cpdist(a, b, scorer=scorer, score_cutoff=cutoff, workers=-1, dtype=np.float32).ravel()


def _distinct_pairs(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each distinct (a, b) code combination's number per pair (``inverse``) and its first pair
    (``first``): scored once, spread back to its pairs -- a club's buyers share first names, surnames
    and streets, so most pairs repeat a combination already scored. Codes are >= -1 (missing)."""
    width = int(max(a.max(initial=-1), b.max(initial=-1))) + 2
    inverse, distinct = pd.factorize((a + 1) * width + (b + 1))
    first = np.empty(len(distinct), dtype=np.int64)
    first[inverse[::-1]] = np.arange(len(inverse) - 1, -1, -1)
    return inverse, first


def _eq(p: dict[str, np.ndarray], key: str, li: np.ndarray, ri: np.ndarray) -> np.ndarray:
    cl, cr = p[key + "_code"][li], p[key + "_code"][ri]
    return (cl == cr) & (cl >= 0)


@dataclass(frozen=True)
class ComparisonCutoffs:
    """Similarity cut-offs of the comparators (``DedupConfig.comparison``), today's tuned values.

    Names use Jaro-Winkler and the e-mail local part normalised Levenshtein (0..1); street, city and
    company rapidfuzz ratios (0..100). ``*_similar`` is the lowest similarity of the "similar" level
    (a pair under it disagrees), ``*_fuzzy`` of the names' "fuzzy" level, ``*_same`` the similarity
    that counts as exact agreement (spelling variants of one street or company).
    """

    first_name_similar: float = 0.80
    first_name_fuzzy: float = 0.92
    last_name_similar: float = 0.80
    last_name_fuzzy: float = 0.92
    email_local_similar: float = 0.85
    street_similar: float = 85.0
    street_same: float = 97.0
    street_set_min_share: float = 0.6
    city_similar: float = 85.0
    company_similar: float = 85.0
    company_same: float = 97.0


class _Pairs:
    """Aligned pair positions over prepared arrays, with the building blocks of every comparator."""

    def __init__(self, p: dict[str, np.ndarray], li: np.ndarray, ri: np.ndarray) -> None:
        self.p, self.li, self.ri, self.n = p, li, ri, len(li)

    def base(self, field: str) -> tuple[np.ndarray, np.ndarray]:
        """Level 0 where both sides have a value, MISSING elsewhere; and where both have one."""
        cl, cr = self.p[field + "_code"][self.li], self.p[field + "_code"][self.ri]
        present = (cl >= 0) & (cr >= 0)
        lvl = np.full(self.n, MISSING, dtype=np.int8)
        lvl[present] = 0
        return lvl, present

    def fuzzy(self, field: str, where: np.ndarray, scorer, cutoff: float, text: str | None = None) -> np.ndarray:
        """Similarity of the pairs ``where`` (0 elsewhere). The comparators pass the pairs whose values
        are present and differ: equal values are exact agreement, a higher level in every comparator,
        and at a million accounts most candidate pairs share the name they were blocked on --
        gathering their strings cost more than scoring them. ``text``: another text of the same values
        (``street_sorted``) to score instead of the field's own."""
        idx = np.nonzero(where)[0]
        sim = np.zeros(self.n, dtype=np.float32)
        if not len(idx):
            return sim
        li, ri = self.li[idx], self.ri[idx]
        codes = self.p[field + "_code"]
        inverse, first = _distinct_pairs(codes[li], codes[ri])
        values = self.p[text or field]
        sim[idx] = _sim(values[li[first]], values[ri[first]], scorer, cutoff)[inverse]
        return sim

    def eq(self, key: str) -> np.ndarray:
        return _eq(self.p, key, self.li, self.ri)


def _swapped(x: _Pairs, similar: float = 1.0) -> np.ndarray:
    """First name of one = last name of the other and vice versa ("Holmes Jane" / "Jane Holmes");
    with ``similar`` < 1 also when one crossed pair is equal and the other at least that Jaro-Winkler
    similar ("Jesser Timothy" / "Timothy Jesher": a swap and a typo in one record)."""
    fl, fr = x.p["first_x_code"][x.li], x.p["first_x_code"][x.ri]
    ll, lr = x.p["last_x_code"][x.li], x.p["last_x_code"][x.ri]
    exact = (fl >= 0) & (ll >= 0) & (fl == lr) & (ll == fr) & (fl != ll)
    if similar >= 1.0:
        return exact
    cand = np.nonzero((fl >= 0) & (ll >= 0) & (fr >= 0) & (lr >= 0) & (fl != ll) & ((fl == lr) | (ll == fr)))[0]
    f, la = x.p["first_name"], x.p["last_name"]
    li, ri = x.li[cand], x.ri[cand]
    jw = JaroWinkler.normalized_similarity
    a = _sim(f[li], la[ri], jw, similar)
    b = _sim(la[li], f[ri], jw, similar)
    out = exact.copy()
    out[cand] = (a >= similar) & (b >= similar)
    return out | exact


def _one_edit(x: _Pairs, field: str, where: np.ndarray, min_len: int) -> np.ndarray:
    """At most one edit or one transposition of neighbours (OSA distance <= 1), both values >= min_len,
    among the pairs ``where`` (both present; the callers leave out pairs already at a higher level)."""
    ln, rn = x.p[field + "_len"][x.li], x.p[field + "_len"][x.ri]
    # the OSA distance only where one edit is possible: lengths at most one apart, one end equal
    where = where & (np.minimum(ln, rn) >= min_len) & (np.abs(ln.astype(np.int32) - rn) <= 1)
    idx = np.nonzero(where & (x.eq(field + "_head") | x.eq(field + "_tail")))[0]
    out = np.zeros(x.n, dtype=bool)
    chars = x.p.get(field + "_chars")
    if chars is not None and len(idx):
        same = ln[idx] == rn[idx]
        out[idx[same]] = _same_length_one_edit(chars, x.li[idx[same]], x.ri[idx[same]])
        idx = idx[~same]
    if len(idx):
        a, b = x.p[field][x.li[idx]], x.p[field][x.ri[idx]]
        out[idx] = process.cpdist(a, b, scorer=OSA.distance, score_cutoff=1, workers=-1).ravel() <= 1
    return out


def _crossed(x: _Pairs, where: np.ndarray) -> np.ndarray:
    """One name of one record is the other record's name in the other field, its other name another:
    "Harrison Capurso" / "Capurso Ruby", "Kelsey Waller" / "Warrior Kelsey" (a swap with one name then
    replaced or mistyped), among the pairs ``where`` (those no other level took: a full swap is
    "swapped"); a record whose first and last name are one value does not cross."""
    idx = np.flatnonzero(where)
    li, ri = x.li[idx], x.ri[idx]
    fl, fr = x.p["first_x_code"][li], x.p["first_x_code"][ri]
    ll, lr = x.p["last_x_code"][li], x.p["last_x_code"][ri]
    both = (fl >= 0) & (ll >= 0) & (fr >= 0) & (lr >= 0) & (fl != ll) & (fr != lr)
    out = np.zeros(x.n, dtype=bool)
    out[idx] = both & ((fl == lr) | (ll == fr))
    return out


def _first_name(x: _Pairs, c: ComparisonCutoffs) -> np.ndarray:
    """exact / swapped with the last name / nickname / JW >= fuzzy or one edit / JW >= similar / initial
    / crossed (one name in the other field, ``_crossed``) / different."""
    lv = {label: i for i, label in enumerate(FIELDS[FIELD_NAMES.index("first_name")].levels)}
    lvl, present = x.base("first_name")
    exact = x.eq("first_name") | x.eq("first_name_sq")
    jw = x.fuzzy("first_name", present & ~exact, JaroWinkler.normalized_similarity, c.first_name_similar)
    init_ok = present & x.eq("first_initial")
    lens_l, lens_r = x.p["first_name_len"][x.li], x.p["first_name_len"][x.ri]
    lvl[init_ok & ((lens_l == 1) | (lens_r == 1))] = lv["initial"]
    lvl[present & (jw >= c.first_name_similar)] = lv["similar"]
    edit = _one_edit(x, "first_name", present & ~exact & (jw < c.first_name_fuzzy), 4)
    lvl[present & ((jw >= c.first_name_fuzzy) | edit)] = lv["fuzzy"]
    lvl[present & _same_reading(x)] = lv["nickname"]
    lvl[_swapped(x, c.first_name_similar) & (lvl < lv["fuzzy"])] = lv["swapped"]
    lvl[exact] = lv["exact"]
    lvl[_crossed(x, lvl == lv["different"])] = lv["crossed"]
    return lvl


def _same_reading(x: _Pairs) -> np.ndarray:
    """The two first names share a reading: Jake and Jacob, Pat (patrick or patricia) and Patricia."""
    tl, tr = x.p["first_tok_code"][x.li], x.p["first_tok_code"][x.ri]
    keys = x.p["nickname_pair_keys"]
    n_tok = int(x.p["first_tok_code"].max(initial=-1)) + 1
    cand = (tl >= 0) & (tr >= 0) & (tl != tr)
    if not len(keys) or not cand.any():
        return np.zeros(x.n, dtype=bool)
    out = np.zeros(x.n, dtype=bool)
    out[cand] = member(tl[cand] * n_tok + tr[cand], keys)
    return out


def _last_name(x: _Pairs, c: ComparisonCutoffs) -> np.ndarray:
    lvl, present = x.base("last_name")
    exact = x.eq("last_name") | x.eq("last_name_sq")
    jw = x.fuzzy("last_name", present & ~exact, JaroWinkler.normalized_similarity, c.last_name_similar)
    lvl[present & (jw >= c.last_name_similar)] = 1
    edit = _one_edit(x, "last_name", present & ~exact & (jw < c.last_name_fuzzy), 4)
    lvl[present & ((jw >= c.last_name_fuzzy) | edit)] = 2
    lvl[_swapped(x, c.last_name_similar) & (lvl < 2)] = 3
    lvl[exact] = 4
    return lvl


def _email(x: _Pairs, c: ComparisonCutoffs) -> np.ndarray:
    lvl, present = x.base("email")
    same_local = x.eq("email_local")
    sim = x.fuzzy("email_local", present & ~same_local, Levenshtein.normalized_similarity, c.email_local_similar)
    lvl[present & (sim >= c.email_local_similar)] = 1
    lvl[present & same_local] = 2
    lvl[x.eq("email")] = 3
    return lvl


def _exact_or_part(x: _Pairs, field: str, part: str) -> np.ndarray:
    """different / the same ``part`` (last 7 phone digits, zip3) / one typo or transposed digits / exact."""
    lvl, present = x.base(field)
    lvl[present & x.eq(part)] = 1
    exact = x.eq(field)
    lvl[_one_edit(x, field, present & ~exact, 4)] = 2
    lvl[exact] = 3
    return lvl


def _similar_or_same(x: _Pairs, field: str, scorer, similar: float, same: float | None) -> np.ndarray:
    """Three levels: different / similar / exact (or, with ``same``, at least that similar)."""
    lvl, present = x.base(field)
    exact = x.eq(field)
    sim = x.fuzzy(field, present & ~exact, scorer, similar)
    lvl[present & (sim >= similar)] = 1
    lvl[exact if same is None else exact | (present & (sim >= same))] = 2
    return lvl


def _street(x: _Pairs, c: ComparisonCutoffs) -> np.ndarray:
    """different / similar / exact, over the address line(s) as tokens: exact is equal or at least
    ``street_same`` similar in token order ("12 main st" = "12 main street"); similar is a token-sorted
    or token-set similarity of at least ``street_similar`` -- the set similarity scores the shared
    tokens, so a second address line missing on one side, or the two lines in swapped order, still
    reads as the same address rather than as a different one. Words run together or a space typed
    as a letter ("cope place" / "copeplace", "sargeant place" / "sargeantnplace") are exact without
    the spaces, or similar by the plain (untokenised) ratio."""
    lvl, present = x.base("street")
    exact = x.eq("street") | x.eq("street_sq")
    differ = present & ~exact
    srt = x.fuzzy("street", differ, fuzz.ratio, c.street_similar, text="street_sorted")  # the token-sort ratio
    # the set similarity only where the shorter text is most of the longer: "13" or "1 rosetta
    # village" inside "381 marchant circuit rosetta village" is a shared word, not the same address
    ln, rn = x.p["street_len"][x.li], x.p["street_len"][x.ri]
    most = np.minimum(ln, rn) >= c.street_set_min_share * np.maximum(ln, rn)
    most |= x.eq("street_start")  # "33 eungella st" within "33 eungella st victoria mill estate"
    tset = x.fuzzy("street", differ & most & (srt < c.street_similar), fuzz.token_set_ratio, c.street_similar)
    similar = (srt >= c.street_similar) | (most & (tset >= c.street_similar))
    plain = x.fuzzy("street", differ & ~similar, fuzz.ratio, c.street_similar)
    similar |= plain >= c.street_similar
    similar |= _street_head(x, differ & ~similar, c.street_similar)
    lvl[present & similar] = 1
    lvl[exact | (present & (srt >= c.street_same))] = 2
    return lvl


def _street_head(x: _Pairs, where: np.ndarray, cutoff: float) -> np.ndarray:
    """The shorter street (2..``STREET_HEADS`` words) at least ``cutoff`` similar to as many first
    words of the longer one: the first address line typed with a typo on one record and the second
    line present on the other only. Each distinct (street, head) combination scored once."""
    wl, wr = x.p["street_words"][x.li], x.p["street_words"][x.ri]
    k = np.minimum(wl, wr)
    out = np.zeros(x.n, dtype=bool)
    codes = x.p["street_code"]
    for n in range(2, STREET_HEADS + 1):
        idx = np.flatnonzero(where & (k == n) & (wl != wr))
        if not len(idx):
            continue
        short = np.where(wl[idx] == n, x.li[idx], x.ri[idx])
        long = np.where(wl[idx] == n, x.ri[idx], x.li[idx])
        heads = x.p[f"street_head{n}_code"]
        inverse, first = _distinct_pairs(codes[short], heads[long])
        head = x.p[f"street_head{n}"][heads[long[first]]]  # the longer side has more than n words: a head
        sim = _sim(x.p["street"][short[first]], head, fuzz.ratio, cutoff)
        out[idx] = sim[inverse] >= cutoff
    return out


def _birth_date(x: _Pairs) -> np.ndarray:
    """one part off (typo in day/month/year) or day and month swapped / exact."""
    p, li, ri = x.p, x.li, x.ri
    lvl, present = x.base("birth_date")
    y, m, d = x.eq("bd_y"), x.eq("bd_m"), x.eq("bd_d")
    swapped = (
        (p["bd_m_code"][li] >= 0)
        & (p["bd_m_code"][li] == p["bd_d_code"][ri])
        & (p["bd_d_code"][li] == p["bd_m_code"][ri])
    )
    lvl[present & (((y.astype(int) + m + d) == 2) | (y & swapped))] = 1
    lvl[x.eq("birth_date")] = 2
    return lvl


def compare_pairs(
    p: dict[str, np.ndarray], li: np.ndarray, ri: np.ndarray, cutoffs: ComparisonCutoffs = ComparisonCutoffs()
) -> dict[str, np.ndarray]:
    """Agreement level per field for aligned pair index arrays; returns {field: int8 array}.

    Symmetric by construction: every comparator is symmetric in its two arguments.
    """
    x, c = _Pairs(p, li, ri), cutoffs
    return {
        "first_name": _first_name(x, c),
        "last_name": _last_name(x, c),
        "email": _email(x, c),
        "phone": _exact_or_part(x, "phone", "phone7"),
        "street": _street(x, c),
        "city": _similar_or_same(x, "city", fuzz.ratio, c.city_similar, None),
        "zip5": _exact_or_part(x, "zip5", "zip3"),
        "company": _similar_or_same(x, "company", fuzz.token_set_ratio, c.company_similar, c.company_same),
        "birth_date": _birth_date(x),
    }
