"""Person records as a run scores them: normalised, with their blocking keys, excluded ones set aside.

The view already normalises; ``normalize_records`` runs again as an idempotent safety net (and gives
inputs without display columns their display spelling). The blocking keys are stored with the
records (``k_<family>`` columns of records_norm) so an incremental run finds a changed record's
neighbours by SQL instead of re-blocking the whole data set; stored, and blocked on, as 63-bit codes
(:func:`key_codes`).
"""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from dedup.blocking import blocking_keys
from dedup.engine import ensure_columns
from dedup.normalize import normalize_records, with_display
from kore.contracts.person_fields import PERSON_RECORD_COLUMNS


def norm_with_keys(raw: pd.DataFrame) -> pd.DataFrame:
    """Normalised records (contract columns, text) plus one ``k_<family>`` column per blocking key,
    as codes (:func:`key_codes`)."""
    rec = ensure_columns(normalize_records(with_display(ensure_columns(raw))))
    codes = key_codes(blocking_keys(rec)).set_axis(rec.index)
    return pd.concat([rec[list(PERSON_RECORD_COLUMNS)], codes], axis=1)


def key_codes(keys: dict[str, pd.Series]) -> pd.DataFrame:
    """Blocking keys (family -> key text per record) as ``k_<family>`` columns of 63-bit codes
    (nullable Int64; no key stays null): the key text's MD5, its top 63 bits as a signed BIGINT.

    Why codes: blocking only asks which records share a key. At a million accounts records_norm holds
    24 key columns of 1.2M rows; an incremental run looks its changed records' keys up in all of them
    and reads ~23 neighbours per changed record with their keys: on text the look-up took ~1.4 s, on
    codes ~0.4 s, and the keys of 280k neighbours ~0.8 s to read and ~1.5 s to factorise. Why MD5:
    DuckDB's own ``hash`` is made for hash tables, not identity -- at 1M accounts it gave one code to
    hundreds of different keys ("phone:12255280675" / "phone:19255280625"); 63 bits of MD5 give two
    of the ~29M keys one code with odds ~1e-4 per data set, and such a pair would only add a
    candidate pair, scored as any other. DuckDB computes them in memory (~0.1 s per million keys;
    pandas' hashing ~1.4 s); should a DuckDB version ever compute them otherwise, the stored codes
    no longer match and the next run is a full one (``dedup.neighbourhood.stored_keys_current``).
    """
    names = ["k_" + fam for fam in keys]
    if not names or not len(next(iter(keys.values()))):
        return pd.DataFrame({c: pd.Series(dtype="Int64") for c in names})
    table = pa.table({c: pa.array(k, from_pandas=True) for c, k in zip(names, keys.values(), strict=True)})
    con = duckdb.connect()  # in memory: the same codes whichever warehouse they go to
    try:
        con.register("_kore_keys", table)
        sql = ", ".join(f"cast(md5_number({c}) >> 65 as bigint) as {c}" for c in names)  # null stays null
        codes = con.sql(f"select {sql} from _kore_keys").to_arrow_table()
    finally:
        con.close()
    return pd.DataFrame({c: codes.column(c).to_pandas(types_mapper={pa.int64(): pd.Int64Dtype()}.get) for c in names})


def excluded(raw: pd.DataFrame) -> np.ndarray:
    """Records of an excluded Account Type (``is_excluded_account_type`` = 1): never deduplicated."""
    flag = pd.to_numeric(raw["is_excluded_account_type"], errors="coerce").fillna(0).astype(int)
    return (flag == 1).to_numpy(dtype=bool)
