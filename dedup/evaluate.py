"""Evaluation against ground truth: pairwise precision/recall/F1 and cluster-level measures.

Pairwise counts come from the contingency table of (predicted cluster, true person), so no pair
list is materialised: a cluster of n records holds n(n-1)/2 pairs.
"""

from __future__ import annotations

import pandas as pd


def _pairs(sizes: pd.Series) -> int:
    s = sizes.astype("int64")
    return int((s * (s - 1) // 2).sum())


def evaluate_clusters(predicted: pd.DataFrame, truth: pd.DataFrame) -> dict:
    """``predicted``: record_id, cluster_id. ``truth``: record_id, person_id. Inner join on record_id."""
    df = predicted[["record_id", "cluster_id"]].merge(truth[["record_id", "person_id"]], on="record_id")
    tp = _pairs(df.groupby(["cluster_id", "person_id"]).size())
    pred = _pairs(df.groupby("cluster_id").size())
    true = _pairs(df.groupby("person_id").size())
    precision = tp / pred if pred else 1.0
    recall = tp / true if true else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    # cluster level: a predicted cluster is exact when it holds exactly one person's full record set
    members_c = df.groupby("cluster_id")["record_id"].apply(frozenset)
    members_p = df.groupby("person_id")["record_id"].apply(frozenset)
    exact = len(set(members_c) & set(members_p))
    persons_split = int((df.groupby("person_id")["cluster_id"].nunique() > 1).sum())
    clusters_mixed = int((df.groupby("cluster_id")["person_id"].nunique() > 1).sum())
    return {
        "records": int(len(df)),
        "true_pairs": true,
        "predicted_pairs": pred,
        "true_positive_pairs": tp,
        "precision": round(precision, 5),
        "recall": round(recall, 5),
        "f1": round(f1, 5),
        "clusters": int(df["cluster_id"].nunique()),
        "persons": int(df["person_id"].nunique()),
        "exact_clusters": exact,
        "exact_cluster_ratio": round(exact / max(len(members_p), 1), 5),
        "persons_split": persons_split,
        "clusters_mixed": clusters_mixed,
    }


def blocking_recall(candidates: pd.DataFrame, truth: pd.DataFrame, record_ids: pd.Series) -> dict:
    """Pairs completeness of blocking: the share of true duplicate pairs that are candidate pairs.

    Only records present in the warehouse (``record_ids``) count. A true pair missing here can still
    end in one cluster through a third record, but it is never scored directly: this is the ceiling
    that blocking puts on recall, which is why the dbt candidate view is judged by it.
    """
    present = truth.loc[truth["record_id"].isin(set(record_ids)), ["record_id", "person_id"]]
    both = present.merge(present, on="person_id", suffixes=("_l", "_r"))
    both = both[both["record_id_l"] < both["record_id_r"]]
    true_pairs = set(zip(both["record_id_l"], both["record_id_r"], strict=True))
    lo = candidates[["record_id_l", "record_id_r"]].min(axis=1)
    hi = candidates[["record_id_l", "record_id_r"]].max(axis=1)
    cand = set(zip(lo, hi, strict=True))
    found = len(true_pairs & cand)
    return {
        "true_pairs": len(true_pairs),
        "candidate_pairs": len(cand),
        "true_pairs_in_candidates": found,
        "blocking_recall": round(found / len(true_pairs), 5) if true_pairs else 1.0,
    }
