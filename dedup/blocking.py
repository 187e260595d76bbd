"""Blocking: which record pairs are worth scoring -- defined ONCE, for Python and for the dbt view.

``BLOCKING_KEYS`` is the single definition of the candidate pairs. Python computes the keys on a
record frame (``blocking_keys``: every run of the dedup step -- a full run blocks all records, an
incremental one reads its neighbours' stored ``k_<family>`` columns --, file mode, the benchmarks)
and the dbt view ``dedup.dedup_candidate_pairs`` is generated from the same specs for people to
inspect (the dedup step never reads it: computing it costs every pair of the data set)
(``candidate_view_sql``; ``python -m dedup.blocking`` rewrites the model file, and
``tests/test_dedup_blocking.py`` checks that the checked-in file is the generated one and that the
view and Python produce the same pairs on the same records). Every key part is an operation both
SQL engines and pandas do alike: a column's value, its first ``n`` characters, or the two name
fields in sorted order (so "Holmes Jane" and "Jane Holmes" share a key).

Keys (why each): e-mail; phone; the sorted name (swaps; one person at two employers, name only);
the smaller and the larger of the two names, each + ZIP (a swap together with a typo or a
replacement in the other name: "Joselyn Brus" / "Brus Joselnyn"; on FEBRL2 and FEBRL4 they found
about a fifth of the true pairs no other key did);
last name + ZIP (missing or mistyped first name); first name + ZIP (mistyped last name); street +
ZIP (moved-in typo'd names, households are told apart by scoring); last name + street (a postcode
typo or transposition); name prefixes + ZIP prefix, initials + ZIP (typos in both names); the
street's first five characters (house number and the start of the street) + ZIP (a street typo), or
+ city (a ZIP typo as well: FEBRL's classic error model), or + the ZIP's first three digits (a
mistyped town and a transposed ZIP), and its first eight + state (a mistyped town and ZIP, or a
second address line mistyped: on FEBRL2 these two keys found 7% more of the true pairs, on the
generator at 100k accounts they added 0.25% candidate pairs); last name + city and first name + city (a
ZIP and a street typo together, or a second address line missing: FEBRL; the namesakes of one town
they also bring in are told apart by scoring); the street's name without the house number + ZIP (a
mistyped or other house number with a name typo or a missing name), the first name's first three
letters + ZIP, and + the street's name + the ZIP's first three digits (a first-name typo with the
surname missing or replaced, the ZIP mistyped too): on FEBRL1/2/4 they lifted recall by 0.3-0.8
points at unchanged precision, and added 0.9% candidate pairs at a million accounts (the same keys
by town instead of ZIP added 30%); birth date + first
initial / last-name prefix; company + first initial; the Archtics account id (an account's primary
name and the CRM contacts that already carry it). Blocks larger than ``max_block_size`` (a very
common surname + ZIP, a switchboard phone) are skipped: quadratic work, little evidence. With
``focus`` (incremental runs) only pairs with at least one focused record are built.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from dedup.arrays import arrow_text, text_series

DEFAULT_MAX_BLOCK = 60
VIEW_FILE = Path(__file__).resolve().parents[1] / "dbt_project" / "models" / "dedup" / "dedup_candidate_pairs.sql"


@dataclass(frozen=True)
class Part:
    """One part of a key: ``column`` whole, its first ``n`` characters, or ``sorted_names`` (0/1:
    the smaller / larger of first and last name); ``after_number``: the text after a leading house
    number ("12 muntz st" -> "muntz st": normalised text, so the first word and its space)."""

    column: str
    n: int = 0
    sorted_names: int = -1
    after_number: bool = False


@dataclass(frozen=True)
class KeySpec:
    family: str
    parts: tuple[Part, ...]
    where: tuple[tuple[str, str], ...] = ()  # (column, required text value), e.g. source = 'crm'


def _p(column: str, n: int = 0) -> Part:
    return Part(column, n)


STREET_NAME = Part("street", 8, after_number=True)


LOW, HIGH = Part("", 0, 0), Part("", 0, 1)
BLOCKING_KEYS: tuple[KeySpec, ...] = (
    KeySpec("email", (_p("email"),)),
    KeySpec("phone", (_p("phone"),)),
    KeySpec("name", (LOW, HIGH)),
    KeySpec("low_zip", (LOW, _p("zip5"))),
    KeySpec("high_zip", (HIGH, _p("zip5"))),
    KeySpec("last_zip", (_p("last_name"), _p("zip5"))),
    KeySpec("first_zip", (_p("first_name"), _p("zip5"))),
    KeySpec("street_zip", (_p("street"), _p("zip5"))),
    KeySpec("last_street", (_p("last_name"), _p("street"))),
    KeySpec("prefix_zip3", (_p("last_name", 3), _p("first_name", 1), _p("zip5", 3))),
    KeySpec("initials_zip", (_p("first_name", 1), _p("last_name", 1), _p("zip5"))),
    KeySpec("street5_zip", (_p("street", 5), _p("zip5"))),
    KeySpec("street5_city", (_p("street", 5), _p("city"))),
    KeySpec("street5_zip3", (_p("street", 5), _p("zip5", 3))),
    KeySpec("street8_state", (_p("street", 8), _p("state"))),
    KeySpec("last_city", (_p("last_name"), _p("city"))),
    KeySpec("first_city", (_p("first_name"), _p("city"))),
    KeySpec("sname_zip", (STREET_NAME, _p("zip5"))),
    KeySpec("first3_zip", (_p("first_name", 3), _p("zip5"))),
    KeySpec("first3_sname", (_p("first_name", 3), STREET_NAME, _p("zip5", 3))),
    KeySpec("birth_f1", (_p("birth_date"), _p("first_name", 1))),
    KeySpec("birth_last", (_p("birth_date"), _p("last_name", 3))),
    KeySpec("company_f1", (_p("company"), _p("first_name", 1))),
    KeySpec("acct", (_p("acct_id"),), (("source", "archtics"), ("is_primary_name", "1"))),
    KeySpec("acct", (_p("archtics_account_id_on_crm"),), (("source", "crm"),)),
)
FAMILIES: tuple[str, ...] = tuple(dict.fromkeys(k.family for k in BLOCKING_KEYS))


# ---- Python ---------------------------------------------------------------------------------------
def _text(records: pd.DataFrame, column: str) -> pa.ChunkedArray:
    """The column as Arrow text, empty text as null."""
    s = records[column] if column in records.columns else pd.Series(pd.NA, index=records.index)
    arr = arrow_text(s)
    return pc.if_else(pc.equal(arr, ""), pa.scalar(None, arr.type), arr)


def _part(records: pd.DataFrame, part: Part) -> pa.ChunkedArray:
    if part.sorted_names >= 0:
        first, last = _text(records, "first_name"), _text(records, "last_name")
        low = pc.fill_null(pc.less(first, last), False)
        return pc.if_else(low, first, last) if part.sorted_names == 0 else pc.if_else(low, last, first)
    s = _text(records, part.column)
    if part.after_number:
        s = pc.replace_substring_regex(s, r"^[0-9]\S* ", "", max_replacements=1)
    return pc.utf8_slice_codeunits(s, 0, part.n) if part.n else s


def _key(records: pd.DataFrame, spec: KeySpec) -> pd.Series:
    """'<family>:<part>:<part>', null when a part is null. Joined by Arrow's compute functions: the same
    text as pandas' ``+`` on the string columns, which took ~6 s for the keys of 1.3M records."""
    parts = [_part(records, part) for part in spec.parts]
    text = pa.large_string()
    key = pc.binary_join_element_wise(pa.scalar(spec.family, text), *parts, pa.scalar(":", text))  # null part: null key
    for column, value in spec.where:
        key = pc.if_else(pc.fill_null(pc.equal(_text(records, column), value), False), key, pa.scalar(None, key.type))
    return text_series(key, records.index)


def blocking_keys(records: pd.DataFrame) -> dict[str, pd.Series]:
    """Blocking key text per record and family (null = the record is not in that family).

    The text equals the view's ``blocking_key`` ('<family>:<part>:<part>'); a family with two specs
    (``acct``) takes the first non-null.
    """
    out: dict[str, pd.Series] = {}
    for spec in BLOCKING_KEYS:
        key = _key(records, spec)
        out[spec.family] = key if spec.family not in out else out[spec.family].fillna(key)
    return out


def _pairs_for_key(key: pd.Series, max_block: int, focus: np.ndarray | None) -> np.ndarray:
    """All (l, r) index pairs with l < r sharing ``key``, as an (n, 2) int64 array.

    Records sorted by key: a block's pairs are the equal neighbours at distance 1, 2, ... (a block
    of s records has none beyond s - 1), so no join and each pair once (a self-join of the key
    listed every pair twice and every record with itself). ``focus``: only pairs touching it."""
    codes, _ = pd.factorize(key, use_na_sentinel=True)
    idx = np.nonzero(codes >= 0)[0]
    codes = codes[idx]
    sizes = np.bincount(codes)
    keep = (sizes[codes] <= max_block) & (sizes[codes] >= 2)
    idx, codes = idx[keep], codes[keep]
    order = np.argsort(codes, kind="stable")
    codes, idx = codes[order], idx[order]
    out = []
    for d in range(1, max_block):
        same = codes[d:] == codes[:-d]
        if not same.any():
            break  # no block is larger than d
        a, b = idx[:-d][same], idx[d:][same]
        if focus is not None:
            near = focus[a] | focus[b]
            a, b = a[near], b[near]
        out.append(np.stack([np.minimum(a, b), np.maximum(a, b)], axis=1))
    return np.concatenate(out) if out else np.empty((0, 2), dtype=np.int64)


def candidate_pairs(
    records: pd.DataFrame,
    max_block: int = DEFAULT_MAX_BLOCK,
    focus: np.ndarray | None = None,
    keys: pd.DataFrame | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Deduplicated candidate pairs over positional indices: (left, right, blocking key family).

    ``keys``: the records' ``k_<family>`` columns when they are at hand (row for row), as
    ``dedup.records.norm_with_keys`` made them and ``records_norm`` stores them: an incremental run
    reads its stored neighbours' keys instead of building them again (~1 s per 250k records)."""
    parts, names = [], []
    by_family = blocking_keys(records) if keys is None else {f: keys["k_" + f] for f in FAMILIES}
    for name, key in by_family.items():
        pr = _pairs_for_key(key, max_block, focus)
        parts.append(pr)
        tag = np.empty(len(pr), dtype=object)
        tag.fill(name)  # one shared str (np.full would make a new str object per pair: GBs at millions)
        names.append(tag)
    if not parts:
        return np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, object)
    allp = np.concatenate(parts)
    allk = np.concatenate(names)
    n = max(len(records), 1)
    _, first = np.unique(allp[:, 0] * n + allp[:, 1], return_index=True)
    return allp[first, 0], allp[first, 1], allk[first]


# ---- SQL (the dbt view) ---------------------------------------------------------------------------
def _sql_text(column: str) -> str:
    return f"cast({column} as {{{{ dbt.type_string() }}}})"


def _sql_part(part: Part) -> str:
    if part.sorted_names >= 0:
        low = "{{ kore_binary('first_name') }} < {{ kore_binary('last_name') }}"
        a, b = ("first_name", "last_name") if part.sorted_names == 0 else ("last_name", "first_name")
        return f"case\n                when {low} then {a}\n                else {b}\n            end"
    col = _sql_text(part.column)
    if part.after_number:
        space = "{{ dbt.position(\"' '\", '" + part.column + "') }}"
        head = f"left({col}, {part.n})" if part.n else col
        return (
            f"case\n                when\n                    left({col}, 1) between '0' and '9'"
            f"\n                    and {space} > 0\n                    then"
            f"\n                        substring(\n                            {col},"
            f"\n                            {space} + 1,\n                            {part.n or 4000}"
            f"\n                        )\n                else {head}\n            end"
        )
    return f"left({col}, {part.n})" if part.n else col


def _sql_select(spec: KeySpec) -> str:
    cols = ["first_name", "last_name"] if any(p.sorted_names >= 0 for p in spec.parts) else []
    cols += [p.column for p in spec.parts if p.sorted_names < 0]
    parts = [f"'{spec.family}:'"]
    for i, part in enumerate(spec.parts):
        parts += ([] if i == 0 else ["':'"]) + [_sql_part(part)]
    conds = [f"{c} is not null and {_sql_text(c)} != ''" for c in dict.fromkeys(cols)]
    conds += [f"{_sql_text(c)} = '{v}'" for c, v in spec.where]
    args = ",\n            ".join(parts)
    where = "\n        and ".join(conds)
    return (
        f"    select\n        record_id,\n        concat(\n            {args}\n        ) as blocking_key\n"
        f"    from records\n    where\n        {where}\n"
    )


_HEAD = """{#- GENERATED by `python -m dedup.blocking` from dedup.blocking.BLOCKING_KEYS: do not edit by hand.
    dedup_candidate_pairs: the pairs of person records worth scoring (blocking), one row per pair
    (record_id_l < record_id_r) with one blocking key that brought it in (the alphabetically
    smallest). The same keys as the Python blocking (tests/test_dedup_blocking.py compares the pair
    sets). Records of an excluded Account Type are not blocked. A key shared by more than
    max_block records (a shared office phone, a placeholder email) is skipped: the engine's
    DedupConfig.max_block_size, written in here by the generator. The dedup step blocks by itself
    and never reads this view: it is for people to see which pairs are compared and why. -#}
{%- set max_block = MAXBLOCK %}

with records as (

    select * from {{ ref('dedup_person_records') }}
    where coalesce(cast(is_excluded_account_type as {{ dbt.type_string() }}), '0') != '1'

),

keys as (

"""
_TAIL = """
),

sized as (

    select
        record_id,
        blocking_key,
        count(*) over (partition by blocking_key) as block_size
    from keys

),

blocks as (

    select
        record_id,
        blocking_key
    from sized
    where block_size between 2 and {{ max_block }}

),

pairs as (

    select
        l.record_id as record_id_l,
        r.record_id as record_id_r,
        l.blocking_key
    from blocks as l
    inner join blocks as r
        on
            {{ kore_binary('l.blocking_key') }} = {{ kore_binary('r.blocking_key') }}
            and {{ kore_binary('l.record_id') }} < {{ kore_binary('r.record_id') }}

)

select
    record_id_l,
    record_id_r,
    min(blocking_key) as blocking_key
from pairs
group by record_id_l, record_id_r
"""


def candidate_view_sql(max_block: int = DEFAULT_MAX_BLOCK) -> str:
    """The dbt model text of ``dedup_candidate_pairs``, generated from ``BLOCKING_KEYS``."""
    selects = "\n    union all\n\n".join(_sql_select(s) for s in BLOCKING_KEYS)
    return _HEAD.replace("MAXBLOCK", str(max_block)) + selects + _TAIL


if __name__ == "__main__":  # python -m dedup.blocking: rewrite the dbt model from the specs
    VIEW_FILE.write_text(candidate_view_sql())
    sys.stdout.write(f"wrote {VIEW_FILE}\n")
