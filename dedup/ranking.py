"""The ranking policy: which of a contact's Archtics accounts is primary, and how golden fields rank.

Policies live in configuration (``dedup/ranking_policy.yml``): an ordered list of rules (current-season plan holder, prior-season
holder, kept primary, recent purchases, recent activity, record recency, first found), the number of
recent seasons that count as "recent purchases", whether the recency of records decides per field,
and the source priority. A manual ``set-primary`` decision always wins; the lowest account id breaks
every remaining tie, so the choice is deterministic.

The ticketing facts come from the dbt view ``dedup.dedup_account_facts`` (per account and season
rank: active plan rows, active ticket rows).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import yaml

POLICY_FILE = Path(__file__).with_name("ranking_policy.yml")
RULES = (
    "current_season_holder",
    "prior_season_holder",
    "kept_primary",
    "recent_purchases",
    "recent_activity",
    "record_recency",
    "first_found",
)
SOURCES = ("crm", "archtics")


@dataclass(frozen=True)
class RankingPolicy:
    name: str
    rules: tuple[str, ...]
    recent_seasons: int = 3
    field_recency: bool = True
    source_priority: tuple[str, ...] = SOURCES


@cache
def _policies(path: str) -> dict[str, RankingPolicy]:
    raw = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    out: dict[str, RankingPolicy] = {}
    for name, spec in (raw.get("policies") or {}).items():
        rules = tuple(spec.get("rules") or ())
        bad = [r for r in rules if r not in RULES]
        if bad:
            raise ValueError(f"ranking policy {name!r} in {path}: unknown rule(s) {bad}; known: {', '.join(RULES)}")
        prio = tuple(spec.get("source_priority") or SOURCES)
        if sorted(prio) != sorted(SOURCES):
            raise ValueError(f"ranking policy {name!r} in {path}: source_priority must order {SOURCES}, not {prio}")
        out[name] = RankingPolicy(
            name=name,
            rules=rules,
            recent_seasons=int(spec.get("recent_seasons", 3)),
            field_recency=bool(spec.get("field_recency", True)),
            source_priority=prio,
        )
    return out


def policy_names(path: Path | None = None) -> tuple[str, ...]:
    return tuple(_policies(str(path or POLICY_FILE)))


def load_policy(name: str, path: Path | None = None) -> RankingPolicy:
    """The named policy of the policy file; a clear error for an unknown name."""
    policies = _policies(str(path or POLICY_FILE))
    if name not in policies:
        raise ValueError(f"unknown primary policy {name!r}; choose one of {', '.join(policies)}")
    return policies[name]


def timestamps(s: pd.Series) -> pd.Series:
    """Timestamps from text (unparseable: NaT). ISO text first (what the warehouse writes; twice as
    fast at a million values), any other spelling then as ``format="mixed"`` reads it."""
    out = pd.to_datetime(s, errors="coerce", format="ISO8601")
    other = out.isna() & s.notna()
    if other.any():
        out[other] = pd.to_datetime(s[other], errors="coerce", format="mixed")
    return out


def _numbers(s: pd.Series) -> np.ndarray:
    """``s`` as float64, anything not a number NaN. A column of Python integers (DuckDB's sums) is
    converted whole: ``to_numeric`` went value by value, 1.1 s per 3M-row column."""
    try:
        return s.to_numpy(dtype="float64", na_value=np.nan)
    except (TypeError, ValueError):
        return pd.to_numeric(s, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)


def _positions(ids: pd.Index, wanted: pd.Series) -> np.ndarray:
    """Position of each ``wanted`` id (as text) among the distinct text ``ids``, -1 when absent: one
    Arrow hash look-up (pandas' ``get_indexer`` over Python strings took 1.4 s for 3M ids)."""
    value_set = pa.array(ids.to_numpy(dtype=object), type=pa.large_string())
    found = pc.index_in(
        pa.array(wanted.astype(str).to_numpy(dtype=object), type=pa.large_string()), value_set=value_set
    )
    return pc.fill_null(found, -1).to_numpy(zero_copy_only=False).astype(np.int64)


def account_facts(acct_ids: pd.Series, facts: pd.DataFrame | None, recent_seasons: int) -> pd.DataFrame:
    """Per account (index = acct_id as text): current/prior-season plan holder, recent ticket rows."""
    idx = acct_ids.astype(str)
    out = pd.DataFrame({"current": 0, "prior": 0, "recent": 0}, index=pd.Index(idx.unique()))
    if facts is None or not len(facts):
        return out
    # each fact row's position in ``out`` (one hashed look-up of the ids), then per-account sums by
    # position: ``isin`` on Arrow-backed text converts the values one by one (5 s for a million
    # accounts), and grouping and re-indexing by text ids cost ~4 s more
    at = _positions(out.index, facts["acct_id"])
    known = at >= 0
    at, rank = at[known], _numbers(facts["season_rank"])[known]
    counts = {c: np.nan_to_num(_numbers(facts[c]), nan=0.0)[known] for c in ("plan_rows", "ticket_rows")}
    n = len(out)

    def per_account(rows: np.ndarray, column: str) -> np.ndarray:
        return np.bincount(at[rows], weights=counts[column][rows], minlength=n)

    for col, season in (("current", 1), ("prior", 2)):
        out[col] = (per_account(rank == season, "plan_rows") > 0).astype(int)
    out["recent"] = per_account(rank <= recent_seasons, "ticket_rows").astype(int)
    return out


def sort_keys(acc: pd.DataFrame, policy: RankingPolicy, facts: pd.DataFrame | None) -> list[str]:
    """Add one ascending sort column per rule (``_r_<rule>``, smaller = better) to ``acc`` (columns
    acct_id, last_activity_at, updated_at, ``_rank_kept``); returns them in the policy's order."""
    f = account_facts(acc["acct_id"], facts, policy.recent_seasons).reindex(acc["acct_id"].astype(str))
    act = timestamps(acc["last_activity_at"]).fillna(timestamps(acc["updated_at"]))
    upd = timestamps(acc["updated_at"])
    never = pd.Timestamp.min.value
    values = {
        "current_season_holder": 1 - f["current"].to_numpy(),
        "prior_season_holder": 1 - f["prior"].to_numpy(),
        "kept_primary": acc["_rank_kept"].to_numpy(),
        "recent_purchases": -f["recent"].to_numpy(),
        "recent_activity": -np.where(act.isna(), never, act.astype("int64", errors="ignore")).astype("float64"),
        "record_recency": -np.where(upd.isna(), never, upd.astype("int64", errors="ignore")).astype("float64"),
        "first_found": pd.to_numeric(acc["acct_id"], errors="coerce").fillna(np.inf).to_numpy(),
    }
    cols = []
    for rule in policy.rules:
        acc[f"_r_{rule}"] = values[rule]
        cols.append(f"_r_{rule}")
    return cols


def deciding_rule(
    acc: pd.DataFrame, contact: np.ndarray, cols: list[str], rules: tuple[str, ...], default: str
) -> np.ndarray:
    """For each contact's primary row (the first of its run in ``acc``, sorted by ``contact``, the
    contact's number): the first rule whose value differs from the runner-up's (the next row) -- why
    this account is primary. ``default`` when alone or tied, and on the other rows."""
    out = np.full(len(acc), default, dtype=object)
    if not len(acc):
        return out
    prim = np.flatnonzero(np.r_[True, contact[1:] != contact[:-1]])
    runner = np.minimum(prim + 1, len(acc) - 1)
    has = (prim + 1 < len(acc)) & (contact[runner] == contact[prim])
    for col, rule in zip(reversed(cols), reversed(rules), strict=True):
        values = acc[col].to_numpy()
        out[prim[has & (values[prim] != values[runner])]] = rule
    return out
