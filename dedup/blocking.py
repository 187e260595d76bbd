"""Blocking: which record pairs are worth scoring.

Used by file mode, by the benchmark and by the warehouse step when the dbt view
``dedup.dedup_candidate_pairs`` is absent. Each blocking key puts records that share it into a
block; pairs inside a block are candidates. Blocks larger than ``max_block_size`` (very common
surname + ZIP, a shared switchboard phone) are skipped: they cost quadratic work and carry little
evidence. With ``focus`` (incremental runs) only pairs with at least one focused record are built,
so the cost grows with the change, not with the data set.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from dedup.normalize import canonical_first


def blocking_keys(records: pd.DataFrame) -> dict[str, pd.Series]:
    """Blocking keys per record (null = the record is not in that block family)."""
    first = records["first_name"].astype("string")
    last = records["last_name"].astype("string")
    canon = canonical_first(first)
    f1 = first.str.slice(0, 1)
    zip5 = records["zip5"].astype("string")
    return {
        "email": records["email"].astype("string"),
        "phone": records["phone"].astype("string"),
        "name": canon + "|" + last,
        "last4_f1_zip3": last.str.slice(0, 4) + "|" + f1 + "|" + zip5.str.slice(0, 3),
        "birth_f1": records["birth_date"].astype("string") + "|" + f1,
        "birth_last": records["birth_date"].astype("string") + "|" + last.str.slice(0, 3),
        "company_f1": records["company"].astype("string") + "|" + f1,
        "street_zip": records["street"].astype("string") + "|" + zip5,
    }


def _pairs_for_key(key: pd.Series, max_block: int, focus: np.ndarray | None) -> np.ndarray:
    """All (l, r) index pairs with l < r sharing ``key``, as an (n, 2) int64 array."""
    codes, _ = pd.factorize(key, use_na_sentinel=True)
    idx = np.nonzero(codes >= 0)[0]
    codes = codes[idx]
    sizes = np.bincount(codes)
    keep = sizes[codes] <= max_block
    keep &= sizes[codes] >= 2
    idx, codes = idx[keep], codes[keep]
    if len(idx) == 0:
        return np.empty((0, 2), dtype=np.int64)
    left = pd.DataFrame({"k": codes, "l": idx})
    right = left if focus is None else left[focus[left["l"].to_numpy()]]
    if len(right) == 0:
        return np.empty((0, 2), dtype=np.int64)
    m = right.rename(columns={"l": "r"}).merge(left, on="k")
    a, b = m["l"].to_numpy(), m["r"].to_numpy()
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    sel = lo != hi
    return np.stack([lo[sel], hi[sel]], axis=1)


def candidate_pairs(
    records: pd.DataFrame, max_block: int = 60, focus: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Deduplicated candidate pairs over positional indices: (left, right, blocking key name)."""
    parts, names = [], []
    for name, key in blocking_keys(records).items():
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
