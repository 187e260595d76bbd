"""Array helpers shared by the normalisation, blocking, comparators and clustering."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

T = TypeVar("T")


def chunked(fn: Callable[[int, int], T], n: int, chunk: int, threads: int = 1) -> list[T]:
    """``fn(start, end)`` over ``[0, n)`` in pieces, on ``threads`` threads, the results in order.

    ``chunk`` is how many items are in flight at once (each of ``threads`` pieces takes a share of
    it; fewer items than that are split among the threads too), so the temporaries' memory does not
    grow with the threads. Why threads: numpy, rapidfuzz and Arrow release the GIL for much of a
    piece's work, and the run's one Python thread left the second core idle (comparing 6M candidate
    pairs at a million accounts: 15.2 s on one thread, 11.9 s on two, the same levels).
    """
    threads = max(threads, 1)
    size = max(1, min(chunk // threads, -(-n // threads)))  # fewer items than a chunk: split them too
    bounds = [(start, min(start + size, n)) for start in range(0, n, size)]
    if threads <= 1 or len(bounds) <= 1:
        return [fn(a, b) for a, b in bounds]
    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(lambda ab: fn(*ab), bounds))


def member(values: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """``np.isin(values, keys)`` for integer keys, by one hash look-up: ``np.isin`` sorts both arrays
    together, 4 s for 16M pair keys against 200k at a million accounts, the look-up ~0.4 s."""
    values = np.asarray(values)
    if not len(keys) or not len(values):
        return np.zeros(len(values), dtype=bool)
    return pd.Index(np.unique(np.asarray(keys))).get_indexer(values) >= 0


def in_ids(values: pd.Series, ids: set[str] | list[str] | pd.Index) -> np.ndarray:
    """Which values are in ``ids`` (bool array; a missing value never is), compared as text.

    Why not ``Series.isin``: on Arrow-backed text it turns the ids into Python objects and hashes
    them one by one (~0.7 s for 100k ids at a million accounts, several times a run); Arrow's
    ``is_in`` builds its hash set from an Arrow array of them (~0.04 s).
    """
    if not len(values) or not len(ids):
        return np.zeros(len(values), dtype=bool)
    try:  # the ids as one Arrow array, missing ones null (a Python test per id: ~0.2 s per 275k)
        wanted = pc.cast(pa.array(list(ids), from_pandas=True), pa.large_string())
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):  # mixed types: as text
        wanted = pa.array([str(i) for i in ids if not pd.isna(i)], pa.large_string())
    found = pc.is_in(arrow_text(values), value_set=pc.drop_null(wanted))
    return found.to_numpy(zero_copy_only=False).astype(bool, copy=False)


def text_set(s: pd.Series) -> set[str]:
    """The column's values as a set of text, missing values left out.

    Why not ``set(s.astype(str))``: iterating an Arrow-backed column yields its values one Python call
    each (~1 s per 800k values over an incremental run); ``tolist`` converts them at once.
    """
    return set(s.dropna().astype(str).tolist())


def whole_numbers(s: pd.Series) -> pd.Series:
    """The values as nullable integers (``Int64``): ``pd.to_numeric(s, errors="coerce")``, a value
    that is no whole number missing.

    Why: account ids and flags arrive as text; ``to_numeric`` parses text value by value in Python
    (~0.23 s per 235k ids, several times an incremental run). Plain digits are cast by Arrow; only
    other text (spaces, signs, decimals) goes through ``to_numeric``.
    """
    if not (pd.api.types.is_string_dtype(s.dtype) or s.dtype == object):
        return _whole(pd.to_numeric(s, errors="coerce"))
    text = arrow_text(s)
    plain = pc.fill_null(pc.match_substring_regex(text, r"^-?[0-9]{1,18}$"), False)
    cast = pc.cast(pc.if_else(plain, text, pa.scalar(None, pa.large_string())), pa.int64())
    out = pd.Series(pd.arrays.ArrowExtensionArray(cast), index=s.index).astype("Int64")
    rest = ~plain.to_numpy(zero_copy_only=False) & s.notna().to_numpy(dtype=bool)
    if rest.any():  # anything else: pandas' parse, kept where it is a whole number
        out[rest] = _whole(pd.to_numeric(s[rest].astype(object), errors="coerce"))
    return out


def _whole(num: pd.Series) -> pd.Series:
    """Parsed numbers as ``Int64``: a fraction, or a number beyond a float's exact integers, missing."""
    num = num.astype("float64")
    return num.where((num == num.round()) & (num.abs() < 2.0**53)).astype("Int64")


def arrow_text(s: pd.Series) -> pa.ChunkedArray:
    """The text column as Arrow ``large_string`` (nulls kept), for Arrow's compute functions."""
    return pa.chunked_array(s.astype("string").array.__arrow_array__()).cast(pa.large_string())


def take_text(values: pa.Array, positions: np.ndarray) -> pa.Array:
    """``values[positions]`` for Arrow text, as ``large_string``.

    Why: Arrow's take of random positions from 64-bit-offset text (``large_string``, what DuckDB and
    pandas hand over) runs ~4x slower than from 32-bit offsets; the 13.8M record ids of a million
    accounts' pairs cost ~6 s taken from the chunked column as it came. A result too large for 32-bit
    offsets is taken from ``values`` as they are.
    """
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    try:
        short = values.cast(pa.string())
        return short.take(pa.array(positions, pa.int64())).cast(pa.large_string())
    except (pa.ArrowInvalid, pa.ArrowCapacityError):  # more than 2 GB of text
        return values.take(pa.array(positions, pa.int64()))


def text_series(arr: pa.Array | pa.ChunkedArray, index: pd.Index) -> pd.Series:
    """Arrow text back as a pandas ``string`` column on ``index`` (no copy of the values)."""
    return pd.Series(pd.arrays.ArrowStringArray(pa.chunked_array(arr)), index=index)
