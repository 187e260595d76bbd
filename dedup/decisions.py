"""Manual decisions as a run applies them, and the review queue they close.

Decisions (``kore_dedup.decisions``) are re-applied on every run. Pair verdicts: the latest decision
on a pair wins (a later forbid overrides an earlier force, and back); ``set_primary``: the latest per
contact.
"""

from __future__ import annotations

import pandas as pd

from dedup.engine import pair_keys

PAIR_KINDS = ("force_match", "forbid_match", "review_accept", "review_reject")
LINK_KINDS = ("force_match", "review_accept")
APART_KINDS = ("forbid_match", "review_reject")


def pair_decisions(dec: pd.DataFrame) -> pd.DataFrame:
    """The decisions naming a pair of records (record_id_l, record_id_r both set)."""
    return dec[dec["kind"].isin(PAIR_KINDS)].dropna(subset=["record_id_l", "record_id_r"])


def latest_pair_verdicts(dec: pd.DataFrame) -> pd.DataFrame:
    """The latest pair decision wins (a later forbid overrides an earlier force, and back)."""
    d = pair_decisions(dec)
    return d.sort_values("decided_at").drop_duplicates(["record_id_l", "record_id_r"], keep="last")


def force_forbid(dec: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(verdicts, forced pairs, forbidden pairs); the pairs as record_id_l, record_id_r."""
    v = latest_pair_verdicts(dec)
    force = v[v["kind"].isin(LINK_KINDS)][["record_id_l", "record_id_r"]]
    forbid = v[v["kind"].isin(APART_KINDS)][["record_id_l", "record_id_r"]]
    return v, force, forbid


def set_primary(dec: pd.DataFrame) -> pd.DataFrame:
    """The latest ``set_primary`` decision per contact."""
    sp = dec[dec["kind"] == "set_primary"].sort_values("decided_at")
    return sp.drop_duplicates("contact_key", keep="last")


def review_queue(scores: pd.DataFrame, clusters: pd.DataFrame, verdicts: pd.DataFrame, stamp: str) -> pd.DataFrame:
    """Possible matches across two clusters that no verdict has decided yet."""
    cid = clusters.set_index("record_id")["cluster_id"]
    possible = scores[scores["decision"] == "possible"]
    decided = set(pair_keys(verdicts["record_id_l"], verdicts["record_id_r"]))
    left, right = possible["record_id_l"].map(cid).to_numpy(), possible["record_id_r"].map(cid).to_numpy()
    open_ = (left != right) & ~pair_keys(possible["record_id_l"], possible["record_id_r"]).isin(decided).to_numpy()
    review = possible[open_].copy()
    review["queued_at"] = stamp
    return review


def approved_moves(dec: pd.DataFrame) -> set[str]:
    """Contact keys a person allowed to move to the account dedup proposes (``approve_move``)."""
    return set(dec.loc[dec["kind"] == "approve_move", "contact_key"].dropna().astype(str))


def account_verdicts(dec: pd.DataFrame) -> pd.DataFrame:
    """The latest account decision per (account key, CRM account): account_key, crm_account_id, accept."""
    d = dec[dec["kind"].isin(["account_accept", "account_reject"])].sort_values("decided_at")
    d = d.drop_duplicates(["record_id_l", "record_id_r"], keep="last")
    return pd.DataFrame(
        {
            "account_key": d["record_id_l"].astype(str).to_numpy(),
            "crm_account_id": d["record_id_r"].astype(str).to_numpy(),
            "accept": (d["kind"] == "account_accept").astype(int).to_numpy(),
        }
    )


def apart_pairs(dec: pd.DataFrame) -> set[tuple[str, str]]:
    """Record pairs whose latest verdict says different people (forbid / reject), ordered."""
    v = latest_pair_verdicts(dec)
    v = v[v["kind"].isin(APART_KINDS)]
    return {tuple(sorted((str(a), str(b)))) for a, b in zip(v["record_id_l"], v["record_id_r"], strict=True)}
