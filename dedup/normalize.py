"""Normalisation of person records before blocking and scoring.

The dbt view ``dedup.dedup_person_records`` already delivers normalised columns; this module applies
the same rules in Python for file mode (``match_file``), for the benchmark's generated records and
as an idempotent safety net over the view's output. Rules (kept equal to the SQL view's intent):

* text fields: Unicode accents folded to ASCII, lower case, every non-alphanumeric character
  becomes a space, runs of spaces collapse, empty -> null;
* ``email``: trimmed, lower case, must contain exactly one ``@`` with text on both sides;
* ``phone``: digits only; 10 digits get the North-American country code ``1`` (E.164 digits);
  fewer than 7 digits -> null;
* ``street``: text rule plus the USPS suffix/direction abbreviations (street -> st, north -> n), also
  of a street type mistyped by one edit behind the street's name (strreet -> st; Python only: the
  view leaves the typo, this safety net reads it);
* ``zip5``: the first five digits of the ZIP;
* ``company``: text rule without legal-form suffixes (inc, ltd, llc, corp ...) and ``&`` -> ``and``;
* ``birth_date``: ISO ``YYYY-MM-DD`` (anything unparseable -> null).

All functions are vectorised over pandas Series (no Python loop over rows) because the full
warehouse run normalises more than a million records.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from nicknames import NickNamer
from rapidfuzz import process
from rapidfuzz.distance import OSA

from dedup.arrays import arrow_text, text_series
from kore.contracts.person_fields import DISPLAY_FIELDS, PERSON_FIELDS

NICKNAME_FILE = Path(__file__).with_name("nicknames.csv")


_STREET_ABBR = {
    "street": "st",
    "avenue": "ave",
    "av": "ave",
    "road": "rd",
    "drive": "dr",
    "boulevard": "blvd",
    "lane": "ln",
    "court": "ct",
    "place": "pl",
    "terrace": "ter",
    "highway": "hwy",
    "parkway": "pkwy",
    "circle": "cir",
    "square": "sq",
    "suite": "ste",
    "apartment": "apt",
    "north": "n",
    "south": "s",
    "east": "e",
    "west": "w",
}
_COMPANY_SUFFIXES = (
    "inc",
    "incorporated",
    "ltd",
    "limited",
    "llc",
    "llp",
    "corp",
    "corporation",
    "co",
    "company",
    "gmbh",
    "plc",
    "the",
)
_NAME_SUFFIXES = ("jr", "sr", "ii", "iii", "iv")


def token_sorted(values) -> list[str]:
    """Each text's words sorted and joined by one space: what ``fuzz.token_sort_ratio`` compares, so
    its ratio is ``fuzz.ratio`` of these, made once per value instead of once per pair."""
    # a plain list first: iterating a pandas Index of Arrow strings costs ~1.3 us per value
    values = values.tolist() if hasattr(values, "tolist") else values
    return [" ".join(sorted(str(v).split())) for v in values]


def norm_text(s: pd.Series) -> pd.Series:
    """Fold accents, lower-case, keep letters/digits separated by single spaces; '' -> null."""
    s = s.astype("string")
    # only text with a non-ASCII character needs folding (a round trip through Python objects)
    accented = ~s.str.isascii().fillna(True)
    if accented.any():
        s = s.copy()
        s[accented] = s[accented].str.normalize("NFKD").str.encode("ascii", "ignore").str.decode("ascii")
    s = s.astype("str")  # the default text type (missing = NaN), as the fold's decoding always gave
    s = s.str.lower().str.replace(r"[^a-z0-9]+", " ", regex=True).str.strip()
    return s.mask(s == "")


def norm_name(s: pd.Series) -> pd.Series:
    """Person name part: text rule, generational suffixes dropped (Jr/Sr are not identity evidence)."""
    s = norm_text(s)
    pattern = r"\b(?:" + "|".join(_NAME_SUFFIXES) + r")\b"
    s = s.str.replace(pattern, " ", regex=True).str.replace(r"\s+", " ", regex=True).str.strip()
    return s.mask(s == "")


def norm_email(s: pd.Series) -> pd.Series:
    s = s.astype("string").str.strip().str.lower()
    ok = s.str.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+").fillna(False).astype(bool)
    return s.where(ok)


def norm_phone(s: pd.Series) -> pd.Series:
    d = s.astype("string").str.replace(r"\D+", "", regex=True)
    d = d.where(d.str.len() != 10, "1" + d)
    return d.mask(d.isna() | (d.str.len() < 7))


# the street types a typist runs into the name before them ("copeplace", "kingsburykstreet")
_GLUED_TYPES = "street|avenue|road|drive|boulevard|lane|court|place|terrace|highway|parkway|circle|square"


def norm_street(s: pd.Series) -> pd.Series:
    s = norm_text(s)
    # a street type glued to the word before it is split off first, so it is abbreviated like any other
    s = s.str.replace(rf"\b([a-z]{{3,}}?)({_GLUED_TYPES})\b", r"\1 \2", regex=True)
    return _abbreviated(s)


def _abbreviated(s: pd.Series) -> pd.Series:
    """Each word of ``_STREET_ABBR`` replaced by its abbreviation. The text is ``norm_text``'s (words
    of letters and digits between single spaces), so a word boundary is a space and each word is
    looked up once: one regular expression per abbreviation over every street took 4 s at 1M."""
    arr = arrow_text(s).combine_chunks()
    words = pc.split_pattern(arr, " ")
    flat = pc.list_flatten(words)
    at = pc.index_in(flat, value_set=pa.array(list(_STREET_ABBR), flat.type))
    at = pc.coalesce(at, _mistyped_types(words, flat, at))
    abbr = pc.take(pa.array(list(_STREET_ABBR.values()), flat.type), at)
    words = pa.ListArray.from_arrays(words.offsets, pc.coalesce(abbr, flat), mask=words.is_null())
    joined = pc.binary_join(words, pa.scalar(" ", flat.type))
    return text_series(joined, s.index).astype(s.dtype)


def _mistyped_types(words: pa.ListArray, flat: pa.Array, at: pa.Array) -> pa.Array:
    """For each word, the ``_STREET_ABBR`` position of the street type it is a typo of, else null.

    A word one edit (OSA) from a street type of five letters or more ("strreet", "steet", "poace")
    after a word with a letter in it -- the street's name, so "12 palace st" keeps its name -- is
    that type: typed correctly on one record and mistyped on the other, the abbreviation made them
    differ by a whole word ("9 eleanora strreet" / "9 eleanora st"). Each distinct word is looked
    up once."""
    idx = np.arange(len(flat))
    parent = pc.list_parent_indices(words).to_numpy()
    first = words.offsets.to_numpy()[parent] == idx
    prev = np.roll(np.asarray(pc.fill_null(pc.match_substring_regex(flat, "[a-z]"), False)), 1)
    cand = np.asarray(pc.fill_null(pc.is_null(at), False)) & ~first & prev
    size = pc.utf8_length(flat)  # one edit from a type of 5-9 letters
    cand &= np.asarray(pc.fill_null(pc.and_(pc.greater_equal(size, 4), pc.less_equal(size, 10)), False))
    out = np.full(len(flat), -1, dtype=np.int64)
    if cand.any():
        pick = np.flatnonzero(cand)
        distinct = pc.dictionary_encode(flat.take(pa.array(pick)))
        found = np.array([_type_of(w) for w in distinct.dictionary.to_pylist()], dtype=np.int64)
        out[pick] = found[distinct.indices.to_numpy()] if len(found) else -1
    return pa.array(out, mask=out < 0, type=pa.int32())


# the street types a typo is read as (one edit away; five letters or more, so "road" / "read" stay apart)
_LONG_TYPES = (
    "street", "avenue", "drive", "boulevard", "court", "place", "terrace", "highway", "parkway", "circle", "square",
)  # fmt: skip
_ABBR_POSITION = {word: i for i, word in enumerate(_STREET_ABBR)}


def _type_of(word: str) -> int:
    """The ``_STREET_ABBR`` position of the street type ``word`` is one edit from, else -1."""
    hit = process.extractOne(word, _LONG_TYPES, scorer=OSA.distance, score_cutoff=1)
    return _ABBR_POSITION[hit[0]] if hit else -1


def norm_zip5(s: pd.Series) -> pd.Series:
    d = s.astype("string").str.replace(r"\D+", "", regex=True).str.slice(0, 5)
    return d.mask(d.isna() | (d.str.len() < 5))


def norm_company(s: pd.Series) -> pd.Series:
    s = s.astype("string").str.replace("&", " and ", regex=False)
    s = norm_text(s)
    pattern = r"\b(?:" + "|".join(_COMPANY_SUFFIXES) + r")\b"
    s = s.str.replace(pattern, " ", regex=True).str.replace(r"\s+", " ", regex=True).str.strip()
    return s.mask(s == "")


def norm_date(s: pd.Series) -> pd.Series:
    d = pd.to_datetime(s.astype("string"), errors="coerce", format="mixed")
    out = d.dt.strftime("%Y-%m-%d").astype("string")
    return out.mask(d.isna())


@lru_cache(maxsize=1)
def nickname_readings() -> dict[str, frozenset[str]]:
    """name -> the canonical names it is a nickname of (Jake: jacob, jakob; Pat: patience, patricia,
    patrick), from the ``nicknames`` package (carltonnorthern's ~2,700 canonical/nickname relations)
    plus our additions in ``nicknames.csv`` (relations the package lacks).

    Why a library: a hand table of 70 rows lacked Jake = Jacob, and a real client's names are not
    the ones we thought of. The relations are many-to-many, so every reading is kept.
    """
    out: dict[str, set[str]] = {k: set(v) for k, v in NickNamer().canonical_lookup.items()}
    with open(NICKNAME_FILE, encoding="utf-8") as fh:
        for row in csv.DictReader(line for line in fh if not line.startswith("#")):
            canon = row["canonical"].strip().lower()
            for nick in row["nicknames"].split("|"):
                out.setdefault(nick.strip().lower(), set()).add(canon)
    return {k: frozenset(v) for k, v in out.items()}


def first_token(first: pd.Series) -> pd.Series:
    """The first token of a normalised first name (the part nicknames are about)."""
    return first.astype("string").str.replace(r" .*$", "", regex=True)


def related_first_names(tokens: list[str]) -> list[tuple[str, str]]:
    """The pairs of distinct names among ``tokens`` that share a reading: one is a nickname of the
    other (Jake / Jacob) or both shorten one name (Bob / Rob: robert). Two full names that merely
    share a nickname (Patrick / Patricia) do not: a name's readings are itself and its canonicals.
    """
    readings = nickname_readings()
    groups: dict[str, list[str]] = {}
    for tok in dict.fromkeys(tokens):
        for r in {tok} | readings.get(tok, frozenset()):
            groups.setdefault(r, []).append(tok)
    pairs = {(a, b) for g in groups.values() if len(g) > 1 for a in g for b in g if a != b}
    return sorted(pairs)


def with_display(df: pd.DataFrame) -> pd.DataFrame:
    """Add ``<field>_display`` (the source's own spelling) where the input does not already carry it.

    Why: matching needs normalised values, but golden contacts are what the CRM receives, so they
    must keep the winning source's spelling. The dbt view delivers display columns; other inputs
    (tests, file mode) get them from their raw values, taken before ``normalize_records`` runs.
    States are upper-case codes either way.
    """
    out = df.copy()
    for f in DISPLAY_FIELDS:
        d = f + "_display"
        raw = out[f] if f in out.columns else pd.Series(pd.NA, index=out.index)
        raw = raw.astype("string").str.strip().replace("", pd.NA)
        cur = out[d].astype("string") if d in out.columns else pd.Series(pd.NA, index=out.index, dtype="string")
        out[d] = cur.fillna(raw)
    out["state_display"] = out["state_display"].str.upper()
    return out


FIELD_RULES = {
    "first_name": norm_name,
    "last_name": norm_name,
    "full_name": norm_text,
    "company": norm_company,
    "email": norm_email,
    "phone": norm_phone,
    "street": norm_street,
    "city": norm_text,
    "state": norm_text,
    "zip5": norm_zip5,
    "birth_date": norm_date,
}


def per_value(rule: Callable[[pd.Series], pd.Series], s: pd.Series) -> pd.Series:
    """``rule`` applied once per distinct value, spread back to every row (nulls stay null).

    Why: names, cities, states and companies repeat across a million records (a few thousand
    first names), and the rules are chains of regular expressions; every rule maps a value on its
    own, so the result is the same as applying it row by row.
    """
    codes, uniques = pd.factorize(s.astype("string"), use_na_sentinel=True)
    done = rule(pd.Series(uniques, dtype="string"))
    # code -1 (null) takes the appended null
    values = pd.concat([done, pd.Series([pd.NA], dtype=done.dtype)], ignore_index=True)
    return pd.Series(values.take(codes).array, index=s.index)


def normalize_records(df: pd.DataFrame) -> pd.DataFrame:
    """Return a copy with every person field normalised (missing columns are added as null).

    Idempotent: normalising an already normalised frame changes nothing (property-tested).
    """
    out = df.copy()
    for col in PERSON_FIELDS:
        if col not in out.columns:
            out[col] = pd.Series(pd.NA, index=out.index, dtype="string")
    for col, rule in FIELD_RULES.items():
        out[col] = per_value(rule, out[col])
    # a record with only a full name: split it (last token = last name) so names can be compared
    need = out["last_name"].isna() & out["full_name"].notna()
    if need.any():
        parts = out.loc[need, "full_name"].str.rsplit(" ", n=1)
        out.loc[need, "last_name"] = parts.str[-1]
        out.loc[need & out["first_name"].isna(), "first_name"] = parts.str[0].where(parts.str.len() > 1)
    return out
