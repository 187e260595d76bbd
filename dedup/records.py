"""Person records as a run scores them: normalised, with their blocking keys, excluded ones set aside.

The view already normalises; ``normalize_records`` runs again as an idempotent safety net (and gives
inputs without display columns their display spelling). The blocking keys are stored with the
records (``k_<family>`` columns of records_norm) so an incremental run finds a changed record's
neighbours by SQL instead of re-blocking the whole data set.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from dedup.blocking import blocking_keys
from dedup.engine import ensure_columns
from dedup.normalize import normalize_records, with_display
from kore.contracts.person_fields import PERSON_RECORD_COLUMNS


def norm_with_keys(raw: pd.DataFrame) -> pd.DataFrame:
    """Normalised records (contract columns, text) plus one ``k_<family>`` column per blocking key."""
    rec = ensure_columns(normalize_records(with_display(ensure_columns(raw))))
    for fam, key in blocking_keys(rec).items():
        rec["k_" + fam] = key.astype("string")
    return rec[[*PERSON_RECORD_COLUMNS, *[c for c in rec.columns if c.startswith("k_")]]]


def excluded(raw: pd.DataFrame) -> np.ndarray:
    """Records of an excluded Account Type (``is_excluded_account_type`` = 1): never deduplicated."""
    flag = pd.to_numeric(raw["is_excluded_account_type"], errors="coerce").fillna(0).astype(int)
    return (flag == 1).to_numpy(dtype=bool)
