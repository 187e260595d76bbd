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


def _ts(s: pd.Series) -> pd.Series:
    return pd.to_datetime(s, errors="coerce", format="mixed")


def account_facts(acct_ids: pd.Series, facts: pd.DataFrame | None, recent_seasons: int) -> pd.DataFrame:
    """Per account (index = acct_id as text): current/prior-season plan holder, recent ticket rows."""
    idx = acct_ids.astype(str)
    out = pd.DataFrame({"current": 0, "prior": 0, "recent": 0}, index=pd.Index(idx.unique()))
    if facts is None or not len(facts):
        return out
    f = facts.assign(
        acct_id=facts["acct_id"].astype(str),
        season_rank=pd.to_numeric(facts["season_rank"], errors="coerce"),
        plan_rows=pd.to_numeric(facts["plan_rows"], errors="coerce").fillna(0),
        ticket_rows=pd.to_numeric(facts["ticket_rows"], errors="coerce").fillna(0),
    )
    # each fact row's position in ``out`` (one hashed look-up of the text ids), then per-account sums
    # by position: ``isin`` on Arrow-backed text converts the values one by one (5 s for a million
    # accounts), and grouping and re-indexing by text ids cost ~4 s more
    at = pd.Index(out.index.to_numpy(dtype=object)).get_indexer(f["acct_id"].to_numpy(dtype=object))
    known = at >= 0
    at, rank = at[known], f["season_rank"].to_numpy(dtype="float64", na_value=np.nan)[known]
    n = len(out)

    def per_account(rows: np.ndarray, column: str) -> np.ndarray:
        values = f[column].to_numpy(dtype="float64", na_value=np.nan)[known][rows]
        return np.bincount(at[rows], weights=values, minlength=n)

    for col, season in (("current", 1), ("prior", 2)):
        out[col] = (per_account(rank == season, "plan_rows") > 0).astype(int)
    out["recent"] = per_account(rank <= recent_seasons, "ticket_rows").astype(int)
    return out


def sort_keys(acc: pd.DataFrame, policy: RankingPolicy, facts: pd.DataFrame | None) -> list[str]:
    """Add one ascending sort column per rule (``_r_<rule>``, smaller = better) to ``acc`` (columns
    acct_id, last_activity_at, updated_at, ``_rank_kept``); returns them in the policy's order."""
    f = account_facts(acc["acct_id"], facts, policy.recent_seasons).reindex(acc["acct_id"].astype(str))
    act = _ts(acc["last_activity_at"]).fillna(_ts(acc["updated_at"]))
    upd = _ts(acc["updated_at"])
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
