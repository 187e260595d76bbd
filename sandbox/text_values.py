"""Values as the Archtics export writes them: text columns for timestamps, dates, money and integers.

Everything in an export part file is text (``docs/architecture.md``, "Export format"); these turn
numpy arrays into Arrow string columns in bulk, without Python loops.
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from kore.contracts.archtics import TS_FORMAT


def ts_text(seconds: np.ndarray) -> pa.Array:
    """Epoch seconds -> 'YYYY-MM-DD HH:MM:SS' strings (nulls where seconds < 0)."""
    arr = pa.array(np.asarray(seconds, dtype=np.int64), mask=np.asarray(seconds) < 0).cast(pa.timestamp("s"))
    return pc.cast(arr, pa.string())  # Arrow renders timestamp[s] as TS_FORMAT, ~15x faster than strftime


def date_text(seconds: np.ndarray) -> pa.Array:
    arr = pa.array(np.asarray(seconds, dtype=np.int64), mask=np.asarray(seconds) < 0).cast(pa.timestamp("s"))
    return pc.cast(pc.cast(arr, pa.date32()), pa.string())


def money_text(cents: np.ndarray) -> pa.Array:
    c = np.asarray(cents, dtype=np.int64)
    d = pc.cast(pa.array(c // 100), pa.string())
    r = pc.utf8_lpad(pc.cast(pa.array(c % 100), pa.string()), width=2, padding="0")
    return pc.binary_join_element_wise(d, r, ".")


def int_text(values: np.ndarray, null_below: int | None = None) -> pa.Array:
    v = np.asarray(values, dtype=np.int64)
    mask = v < null_below if null_below is not None else None
    return pc.cast(pa.array(v, mask=mask), pa.string())


def epoch(ts: str) -> int:
    return int(datetime.strptime(ts, TS_FORMAT).replace(tzinfo=UTC).timestamp())
