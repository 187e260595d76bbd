"""Candidate pairs of a run as positions into a ``Scorer``'s records: gathered, ordered, tagged.

Pairs come from the engine's blocking (``dedup.blocking.BLOCKING_KEYS``, the one definition; the dbt
view ``dedup.dedup_candidate_pairs`` is generated from it for people to inspect); deterministic links (a CRM contact carrying an Archtics account id) and
manually decided pairs are always added ("rule_or_decision"). Every pair is kept once, ordered as it
is stored (record_id_l < record_id_r). Positions and categoricals, never a Python string per pair:
a full run holds millions of them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from dedup import store
from dedup.blocking import candidate_pairs
from dedup.decisions import pair_decisions
from dedup.engine import Scorer, deterministic_pairs
from dedup.model import Model

RULE_OR_DECISION = "rule_or_decision"


def candidates(
    scorer: Scorer,
    max_block_size: int,
    focus: np.ndarray | None = None,
    keys: pd.DataFrame | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The engine's blocking over the scorer's records (``focus``: incremental; ``keys``: the
    records' blocking keys when already known, see ``candidate_pairs``)."""
    return candidate_pairs(scorer.records, max_block_size, focus=focus, keys=keys)


def with_extra_pairs(
    scorer: Scorer,
    dec: pd.DataFrame,
    li: np.ndarray,
    ri: np.ndarray,
    bkey: np.ndarray,
    focus: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Add the deterministic and manually decided pairs (with ``focus``: only those touching it)."""
    d = pair_decisions(dec)
    extra = pd.concat(
        [deterministic_pairs(scorer.records), d[["record_id_l", "record_id_r"]].astype(str)], ignore_index=True
    )
    el, er = scorer.positions(extra["record_id_l"]), scorer.positions(extra["record_id_r"])
    eok = (el >= 0) & (er >= 0)
    if focus is not None:
        eok &= focus[np.maximum(el, 0)] | focus[np.maximum(er, 0)]
    li, ri = np.concatenate([li, el[eok]]), np.concatenate([ri, er[eok]])
    bkey = np.concatenate([bkey, np.full(int(eok.sum()), RULE_OR_DECISION, dtype=object)])
    return li, ri, bkey


def ordered_pairs(
    scorer: Scorer, li: np.ndarray, ri: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Order (record_id_l < record_id_r) and deduplicate pair positions.

    Returns (first, pos_l, pos_r, inverse): ``first`` indexes the input pairs that were kept;
    ``inverse`` maps every input pair to its kept pair (-1: a record paired with itself).
    """
    rid = scorer.records["record_id"].to_numpy(dtype=object)
    n = max(len(rid), 1)
    rank = np.empty(len(rid), dtype=np.int64)
    rank[np.argsort(rid, kind="stable")] = np.arange(len(rid))
    del rid
    li, ri = np.asarray(li, dtype=np.int64), np.asarray(ri, dtype=np.int64)
    swap = rank[li] > rank[ri]
    lo, hi = np.where(swap, ri, li), np.where(swap, li, ri)
    _, first, inverse = np.unique(lo * n + hi, return_index=True, return_inverse=True)
    keep = lo[first] != hi[first]
    kept_index = np.where(keep, np.cumsum(keep) - 1, -1)
    first = first[keep]
    return first, lo[first], hi[first], kept_index[inverse.ravel()]


def tag_scores(sc: pd.DataFrame, bkey: np.ndarray) -> pd.DataFrame:
    """Blocking key and scoring time, as categoricals (one byte per pair, millions of pairs)."""
    sc["blocking_key"] = pd.Categorical(np.asarray(bkey, dtype=object))
    sc["scored_at"] = pd.Categorical.from_codes(np.zeros(len(sc), dtype=np.int8), categories=[store.now()])
    return sc


def score(
    scorer: Scorer, li: np.ndarray, ri: np.ndarray, bkey: np.ndarray, model: Model, progress: bool
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Order (record_id_l < record_id_r), deduplicate and score pair positions; returns the scores and
    their pairs' positions into the scorer's records (looking 284k pairs' ids up again took ~0.6 s)."""
    first, pos_l, pos_r, _ = ordered_pairs(scorer, li, ri)
    sc = scorer.score(pos_l, pos_r, model, progress=progress)
    return tag_scores(sc, np.asarray(bkey, dtype=object)[first]), pos_l, pos_r
