"""Clustering: union of match links with guards, and stable cluster ids.

Links are added strongest first (forced matches first of all). A link is refused when it would put
into one cluster

* two preexisting CRM contacts (a cluster becomes exactly one CRM contact), or
* two records with a *cannot-link* between them: a manual forbid-match, a rule veto (different
  first names: households) or a strongly negative weight.

Because links are added strongest first, a component that would violate a guard loses its weakest
links -- no chaining of unrelated people through one weak link. Possible matches are never links.

Cluster ids are stable: a new component inherits the stored id most of its members had (ties: the
oldest), so a cluster keeps its id when records join it; a new cluster's id is derived from its
smallest record id, so a re-run over the same data yields the same ids.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from dedup.arrays import text_set


@dataclass
class ClusterResult:
    labels: np.ndarray  # component label per record (positional)
    refused: list[tuple[int, int, str]] = field(default_factory=list)  # (l, r, reason)


def constrained_components(
    n: int,
    edges_l: np.ndarray,
    edges_r: np.ndarray,
    edges_w: np.ndarray,
    is_crm: np.ndarray,
    cannot_l: np.ndarray,
    cannot_r: np.ndarray,
) -> ClusterResult:
    """Greedy strongest-first union honouring the guards (``_greedy``); returns a component label per
    record. Where the links' own components hold at most one CRM contact and no cannot-link, no guard
    can refuse a link and the greedy union is that component: found at once (``connected_components``),
    the greedy loop runs only on the other components' links, in the same order. Same clusters and
    refusals; at a million accounts 5.3 s -> ~1 s (most components are two or three records)."""
    if not len(edges_l):
        return ClusterResult(labels=np.arange(n, dtype=np.int64))
    graph = coo_matrix((np.ones(len(edges_l), dtype=np.int8), (edges_l, edges_r)), shape=(n, n))
    _, comp = connected_components(graph, directed=False)
    crm_count = np.bincount(comp, weights=np.asarray(is_crm, dtype=float), minlength=comp.max() + 1)
    hard = crm_count > 1
    inside = comp[cannot_l] == comp[cannot_r] if len(cannot_l) else np.zeros(0, dtype=bool)
    hard[comp[cannot_l[inside]]] = True
    # an easy component's label is its smallest record (a record index, as the greedy roots are)
    labels = np.full(int(comp.max()) + 1, n, dtype=np.int64)
    np.minimum.at(labels, comp, np.arange(n, dtype=np.int64))
    labels = labels[comp]
    on_hard = hard[comp[edges_l]]
    if not on_hard.any():
        return ClusterResult(labels=labels)
    cut = hard[comp[cannot_l]] & inside if len(cannot_l) else np.zeros(0, dtype=bool)
    res = _greedy(n, edges_l[on_hard], edges_r[on_hard], edges_w[on_hard], is_crm, cannot_l[cut], cannot_r[cut])
    in_hard = hard[comp]
    labels[in_hard] = res.labels[in_hard]
    return ClusterResult(labels=labels, refused=res.refused)


def _greedy(
    n: int,
    edges_l: np.ndarray,
    edges_r: np.ndarray,
    edges_w: np.ndarray,
    is_crm: np.ndarray,
    cannot_l: np.ndarray,
    cannot_r: np.ndarray,
) -> ClusterResult:
    """Greedy strongest-first union honouring the guards; returns a component label per record (the
    definition; ``constrained_components`` runs it only where a guard can refuse a link)."""
    parent = np.arange(n, dtype=np.int64)
    order = np.argsort(-edges_w, kind="stable")
    touched = np.unique(np.concatenate([edges_l, edges_r])) if len(edges_l) else np.empty(0, np.int64)
    in_graph = np.zeros(n, dtype=bool)
    in_graph[touched] = True
    members: dict[int, list[int]] = {int(i): [int(i)] for i in touched}
    crm: dict[int, int] = {int(i): int(is_crm[i]) for i in touched}
    cannot: dict[int, set[int]] = {}
    keep = in_graph[cannot_l] & in_graph[cannot_r] if len(cannot_l) else np.zeros(0, bool)
    for a, b in zip(cannot_l[keep].tolist(), cannot_r[keep].tolist(), strict=True):
        cannot.setdefault(a, set()).add(b)
        cannot.setdefault(b, set()).add(a)

    def find(x: int) -> int:
        root = x
        while parent[root] != root:
            root = parent[root]
        while parent[x] != root:
            parent[x], x = root, parent[x]
        return int(root)

    refused: list[tuple[int, int, str]] = []
    el, er = edges_l.tolist(), edges_r.tolist()
    for k in order.tolist():
        a, b = el[k], er[k]
        ra, rb = find(a), find(b)
        if ra == rb:
            continue
        if crm[ra] + crm[rb] > 1:
            refused.append((a, b, "two_crm_contacts"))
            continue
        small, large = (ra, rb) if len(members[ra]) <= len(members[rb]) else (rb, ra)
        blocked = cannot.get(large)
        if blocked and any(x in blocked for x in members[small]):
            refused.append((a, b, "cannot_link_in_cluster"))
            continue
        parent[small] = large
        members[large].extend(members.pop(small))
        crm[large] += crm.pop(small)
        cs = cannot.pop(small, None)
        if cs:
            cannot.setdefault(large, set()).update(cs)
    labels = np.array([find(i) for i in range(n)], dtype=np.int64) if len(touched) else np.arange(n)
    return ClusterResult(labels=labels, refused=refused)


def new_cluster_id(record_id: str) -> str:
    """Deterministic id for a new cluster, derived from its smallest record id."""
    return "CL" + hashlib.sha1(record_id.encode("utf-8")).hexdigest()[:16]


def assign_cluster_ids(
    record_ids: pd.Series, labels: np.ndarray, previous: pd.DataFrame, reserved: set[str] | None = None
) -> pd.DataFrame:
    """Stable ids: inherit stored ids (majority, then oldest), else derive from the smallest record id.

    ``previous``: record_id, cluster_id, first_seen_at from the last run (may be empty).
    ``reserved``: ids held by clusters outside this record set (incremental runs), never reused.
    Returns record_id, cluster_id, first_seen_at (null for records never seen before).
    """
    df = pd.DataFrame({"record_id": record_ids.astype(str).to_numpy(), "comp": labels})
    prev = previous[["record_id", "cluster_id", "first_seen_at"]] if len(previous) else None
    if prev is not None:
        df = df.merge(prev, on="record_id", how="left")
    else:
        df["cluster_id"] = pd.NA
        df["first_seen_at"] = pd.NA
    votes = (
        df.dropna(subset=["cluster_id"])
        .groupby(["comp", "cluster_id"], as_index=False)
        .agg(n=("record_id", "size"), oldest=("first_seen_at", "min"))
        .sort_values(["n", "oldest", "cluster_id"], ascending=[False, True, True])
    )
    chosen = votes.drop_duplicates("cluster_id").drop_duplicates("comp")[["comp", "cluster_id"]]
    out = df.drop(columns=["cluster_id"]).merge(chosen, on="comp", how="left")
    missing = out["cluster_id"].isna()
    if missing.any():
        used = text_set(chosen["cluster_id"]) | (reserved or set())
        mins = out.loc[missing].groupby("comp")["record_id"].min()
        new_ids = {}
        for comp, rid in mins.items():
            cid = new_cluster_id(rid)
            salt = 0
            while cid in used:
                salt += 1
                cid = new_cluster_id(f"{rid}#{salt}")
            used.add(cid)
            new_ids[comp] = cid
        out.loc[missing, "cluster_id"] = out.loc[missing, "comp"].map(new_ids)
    return out[["record_id", "cluster_id", "first_seen_at"]]
