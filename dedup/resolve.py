"""Resolution: cluster -> one CRM contact, one CRM account, the account/contact mapping, golden fields.

Primary Archtics account of a contact (``is_primary`` in the mapping): a manual ``set-primary``
decision, then the ranking policy's rules in order (``dedup/ranking_policy.yml``, ``dedup.ranking``):
``default`` = current-season plan holder, prior-season holder, the account already primary in the
last run, purchases in the recent seasons, most recent activity, record recency; ``first_found`` =
the first account found (lowest account id, the documented vendor behaviour); ``most_recent`` = the
earlier default. The mapping's ``rule`` names the rule that decided.

Golden fields (what is pushed to the CRM contact), per field the first non-null value in rank order:
* ``first_found`` (``field_recency: false``): primary account's record, then the CRM contact, then other records (Archtics is
  treated as the truth, so the primary account overwrites the CRM contact -- the documented failure);
* ``default`` (``field_recency: true``): the primary account's record only if it changed after the
  CRM contact's own last change (``updated_at`` of the CRM record = its modified_at); then the
  sources in ``source_priority`` order (CRM, then other Archtics records, which only fill fields the
  CRM contact leaves empty). So an Archtics record older than the CRM contact never overwrites a CRM
  field. The CRM pull gives record-level modification times only (no per-field history), so "changed
  after" compares the records' times, per field: a field only the newer record has still fills in.
* a protected contact (``kore dedup protect``): its CRM record's values only.
Each golden field carries ``<field>_source`` (``crm:<id>`` or ``archtics:<acct_id>``). Values are the
winning record's display spelling (``<field>_display``) where it has one; account keys use the
normalised values. A company-only cluster's contact is named after the company (``last_name``).

CRM account rule (``account_rule``): a company-type record (name_type 'C') or a golden company
name -> a company account keyed by the normalised company name (colleagues share it); otherwise a
household account keyed by last name + street + ZIP (household members share it); otherwise a
person account of its own.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import numpy as np
import pandas as pd

from dedup.arrays import in_ids
from dedup.ranking import RankingPolicy, deciding_rule, load_policy, sort_keys, timestamps
from kore.contracts.person_fields import DISPLAY_FIELDS, GOLDEN_FIELDS


def _key(prefix: str, value: str) -> str:
    return prefix + hashlib.sha1(value.encode("utf-8")).hexdigest()[:16]


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")


def contact_keys(clusters: pd.DataFrame, records: pd.DataFrame, previous_golden: pd.DataFrame) -> pd.DataFrame:
    """One contact per cluster: cluster_id, contact_key, crm_contact_id (keys stable across runs).

    Key, in this order: the KORE key the cluster's CRM contact already carries (a contact KORE
    created: identity), the key the cluster had in the last run, the key its CRM contact had, else
    a new ``KC`` key. A key claimed twice stays with the stronger claim.
    """
    cols = ["record_id", "source", "crm_contact_id"] + (["kore_external_key"] if "kore_external_key" in records else [])
    rec = records[cols].merge(clusters[["record_id", "cluster_id"]])
    if "kore_external_key" not in rec:
        rec["kore_external_key"] = pd.NA
    crm = rec[rec["source"] == "crm"].drop_duplicates("cluster_id")[
        ["cluster_id", "crm_contact_id", "kore_external_key"]
    ]
    out = pd.DataFrame({"cluster_id": clusters["cluster_id"].drop_duplicates()}).merge(crm, how="left")
    out["contact_key"] = out["kore_external_key"].astype(object).where(out["kore_external_key"].notna(), None)
    out["_claim"] = np.where(out["contact_key"].notna(), 0, 9)
    if len(previous_golden):
        pg = previous_golden[["cluster_id", "contact_key", "crm_contact_id"]]
        by_cluster = pg.dropna(subset=["contact_key"]).drop_duplicates("cluster_id")
        fill = out["contact_key"].isna()
        out.loc[fill, "contact_key"] = out.loc[fill, "cluster_id"].map(
            by_cluster.set_index("cluster_id")["contact_key"]
        )
        out.loc[fill & out["contact_key"].notna(), "_claim"] = 1
        by_crm = pg.dropna(subset=["crm_contact_id"]).drop_duplicates("crm_contact_id")
        fill = out["contact_key"].isna() & out["crm_contact_id"].notna()
        out.loc[fill, "contact_key"] = out.loc[fill, "crm_contact_id"].map(
            by_crm.set_index("crm_contact_id")["contact_key"]
        )
        out.loc[fill & out["contact_key"].notna(), "_claim"] = 2
    ranked = out.sort_values(["_claim", "cluster_id"], kind="stable")
    dup = ranked["contact_key"].notna() & ranked["contact_key"].duplicated(keep="first")
    out.loc[dup[dup].index, "contact_key"] = None
    miss = out["contact_key"].isna()
    out.loc[miss, "contact_key"] = [_key("KC", c) for c in out.loc[miss, "cluster_id"]]
    return out.drop(columns=["kore_external_key", "_claim"])


def account_records(records: pd.DataFrame) -> pd.DataFrame:
    """The record that stands for each Archtics account: its primary name (else lowest name id)."""
    a = records[records["source"] == "archtics"]
    keys = pd.DataFrame(
        {
            "acct_id": a["acct_id"],
            "_p": pd.to_numeric(a["is_primary_name"], errors="coerce").fillna(0),
            "_n": pd.to_numeric(a["cust_name_id"], errors="coerce"),
        }
    ).sort_values(["acct_id", "_p", "_n"], ascending=[True, False, True])
    # the order found on the three keys, then only the chosen rows of the (wide) frame taken
    return a.loc[keys.index[~keys["acct_id"].duplicated()]]


def choose_primary(
    accounts: pd.DataFrame,
    previous_map: pd.DataFrame,
    set_primary: pd.DataFrame,
    policy: str | RankingPolicy,
    facts: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Mark one primary account per contact (``dedup.ranking``: a manual decision, then the policy's
    rules in order, then the lowest account id). ``accounts``: acct_id, contact_key, activity columns;
    ``facts``: the rows of ``dedup.dedup_account_facts`` (ticketing per account and season)."""
    pol = policy if isinstance(policy, RankingPolicy) else load_policy(policy)
    acc = accounts.copy()
    acc["_rank_manual"] = 1
    if len(set_primary):
        manual = set(set_primary["acct_id"].astype(str))
        acc.loc[acc["acct_id"].astype(str).isin(manual), "_rank_manual"] = 0
    acc["_rank_kept"] = 1
    if len(previous_map):  # (account, contact) pairs primary last run: a left join (a loop over tuples took 3 s at 1M)
        kept = previous_map[previous_map["is_primary"].astype(int) == 1]
        kept = _text_pairs(kept["acct_id"], kept["crm_contact_key"]).drop_duplicates().assign(_kept=0)
        now = _text_pairs(acc["acct_id"], acc["contact_key"]).merge(kept, how="left", on=["a", "c"])
        acc["_rank_kept"] = now["_kept"].fillna(1).astype(int).to_numpy()
    cols = sort_keys(acc, pol, facts)
    # sorted on a narrow set of numeric keys (the contact as its rank among the keys), then the wide
    # frame taken once in that order: sorting the frame itself on the text key took ~10 s at 1M accounts
    contact = pd.factorize(acc["contact_key"].astype(str), sort=True)[0]
    acct_num = pd.to_numeric(acc["acct_id"], errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    keys = [contact, acc["_rank_manual"].to_numpy(), *(acc[c].to_numpy() for c in cols), acct_num]
    order = np.lexsort(keys[::-1])  # stable; NaN sorts last
    acc, contact = acc.take(order), contact[order]
    first = np.r_[True, contact[1:] != contact[:-1]] if len(contact) else np.zeros(0, dtype=bool)
    acc["is_primary"] = first.astype(int)
    acc["rule"] = deciding_rule(acc, contact, cols, pol.rules, pol.rules[-1] if pol.rules else "first_found")
    acc.loc[acc["_rank_manual"] == 0, "rule"] = "manual_primary"
    acc.loc[acc["is_primary"] == 0, "rule"] = "secondary"
    acc["decided_by"] = np.where((acc["_rank_manual"] == 0) & (acc["is_primary"] == 1), "person", "auto")
    return acc.drop(columns=[c for c in acc.columns if c.startswith("_")])


def _text_pairs(a: pd.Series, c: pd.Series) -> pd.DataFrame:
    return pd.DataFrame({"a": a.astype(str).to_numpy(dtype=object), "c": c.astype(str).to_numpy(dtype=object)})


MAPPING_COLUMNS = (
    "acct_id",
    "crm_contact_key",
    "crm_contact_id",
    "cluster_id",
    "is_primary",
    "rule",
    "score",
    "first_seen_at",
    "decided_by",
)


def resolve(
    records: pd.DataFrame,
    clusters: pd.DataFrame,
    best_weight: pd.Series,
    previous_map: pd.DataFrame,
    previous_golden: pd.DataFrame,
    set_primary: pd.DataFrame,
    policy: str = "default",
    facts: pd.DataFrame | None = None,
    protected: set[str] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Build (account_contact_map, golden_contacts) from clustered records. ``facts``: ticketing per
    account (``dedup.dedup_account_facts``); ``protected``: CRM ids / contact keys KORE never updates."""
    now = _now()
    pol = load_policy(policy)
    contacts = contact_keys(clusters, records, previous_golden)
    protected = protected or set()
    contacts["is_protected"] = (
        in_ids(contacts["crm_contact_id"], protected) | in_ids(contacts["contact_key"], protected)
    ).astype(int)
    recs = _clustered_records(records, clusters, contacts)
    acc = choose_primary(account_records(recs), previous_map, set_primary, pol, facts)
    mapping = _mapping(acc, contacts, best_weight, previous_map, now)
    golden, norm = _golden_fields(recs, acc, contacts, pol)
    golden = _account_keys(golden, norm)
    golden = _name_company_contacts(golden)
    golden["updated_at"] = now
    return mapping, golden.reset_index(drop=True)


def _clustered_records(records: pd.DataFrame, clusters: pd.DataFrame, contacts: pd.DataFrame) -> pd.DataFrame:
    """The columns resolving reads of every record, with its cluster and contact key."""
    keep = [
        "record_id",
        "source",
        "acct_id",
        "cust_name_id",
        "crm_contact_id",
        "is_primary_name",
        "name_type",
        "last_activity_at",
        "updated_at",
        "kore_external_key",
        *GOLDEN_FIELDS,
        *(f + "_display" for f in DISPLAY_FIELDS),
    ]
    records = records.copy()
    for c in keep:
        if c not in records.columns:
            records[c] = pd.NA
    return (
        records[keep]
        .merge(clusters[["record_id", "cluster_id"]], on="record_id")
        .merge(contacts[["cluster_id", "contact_key"]], on="cluster_id")
    )


def _mapping(
    acc: pd.DataFrame, contacts: pd.DataFrame, best_weight: pd.Series, previous_map: pd.DataFrame, now: str
) -> pd.DataFrame:
    """account_contact_map: one row per account, its contact, rule and score (``acc`` gains the
    score, the contact's CRM id and first_seen_at)."""
    acc["score"] = acc["record_id"].map(best_weight).astype(float)
    acc["crm_contact_id"] = acc["cluster_id"].map(contacts.set_index("cluster_id")["crm_contact_id"])
    prev_seen = pd.Series(dtype=object)
    if len(previous_map):
        pm = previous_map.drop_duplicates("acct_id")
        prev_seen = pd.Series(pm["first_seen_at"].to_numpy(), index=pm["acct_id"].astype(str))
    acc["first_seen_at"] = acc["acct_id"].astype(str).map(prev_seen).fillna(now)
    mapping = acc.rename(columns={"contact_key": "crm_contact_key"})[list(MAPPING_COLUMNS)].reset_index(drop=True)
    mapping["acct_id"] = pd.to_numeric(mapping["acct_id"], errors="coerce").astype("Int64")
    return mapping


def _golden_fields(
    recs: pd.DataFrame, acc: pd.DataFrame, contacts: pd.DataFrame, policy: RankingPolicy
) -> tuple[pd.DataFrame, dict[str, pd.Series]]:
    """One golden contact per cluster: per field the first non-null value in rank order (module
    docstring), in its display spelling, with its source. Also returns the normalised winners.
    A protected contact's fields are its CRM record's only (no Archtics value, not even a fill)."""
    # clusters as positions of the golden table (one row each): sorting, de-duplicating and looking
    # up integers instead of cluster-id strings, once per field, at a million records
    gpos = pd.Index(contacts["cluster_id"])
    prim = acc[acc["is_primary"] == 1][["cluster_id", "record_id"]].rename(columns={"record_id": "_prim"})
    g = recs.merge(prim, on="cluster_id", how="left")
    g["_pos"] = gpos.get_indexer(g["cluster_id"])
    g["_upd"] = timestamps(g["updated_at"])
    is_crm = g["source"] == "crm"
    crm_upd = g.loc[is_crm].groupby("_pos")["_upd"].max()
    g["_crm_upd"] = crm_upd.reindex(g["_pos"].to_numpy()).to_numpy()
    is_prim = g["record_id"] == g["_prim"]
    src_rank = {s: i + 1 for i, s in enumerate(policy.source_priority)}
    by_source = np.where(is_crm, src_rank["crm"], src_rank["archtics"])
    if policy.field_recency:
        fresh = g["_crm_upd"].isna() | (g["_upd"] >= g["_crm_upd"]).fillna(False)
        rank = np.where(is_prim & fresh, 0, by_source)
    else:
        rank = np.where(is_prim, 0, by_source)
    g["_rank"] = rank
    locked = set(contacts.loc[contacts["is_protected"] == 1, "cluster_id"])
    g = g[~(g["cluster_id"].isin(locked) & ~is_crm)].copy()
    is_crm = g["source"] == "crm"
    g["_src"] = np.where(is_crm, "crm:" + g["crm_contact_id"].astype(str), "archtics:" + g["acct_id"].astype(str))
    g = g.reset_index(drop=True)
    # rank order within each cluster, found on the three sort columns only (the frame is wide): each
    # field's winner is then its first non-null value per cluster in this order
    order = (
        g[["_pos", "_rank", "_upd"]]
        .sort_values(["_pos", "_rank", "_upd"], ascending=[True, True, False], na_position="last", kind="stable")
        .index.to_numpy()
    )
    pos_sorted = g["_pos"].to_numpy()[order]
    golden = contacts.copy()
    at = np.arange(len(golden))
    norm: dict[str, pd.Series] = {}  # normalised winners: stable account keys, whatever the spelling

    def winners(present: np.ndarray) -> np.ndarray:
        """Rows of ``g`` (positions) first in rank order in their cluster among ``present`` ones."""
        cand = np.flatnonzero(present[order])
        p = pos_sorted[cand]
        first = np.ones(len(cand), dtype=bool)
        first[1:] = p[1:] != p[:-1]
        return order[cand[first]]

    def per_cluster(column: str, rows: np.ndarray) -> pd.Series:
        """``g[column]`` at ``rows`` (one per cluster) laid out as the golden table's rows."""
        return g[column].iloc[rows].set_axis(g["_pos"].to_numpy()[rows]).reindex(at).set_axis(golden.index)

    for f in GOLDEN_FIELDS:
        rows = winners(g[f].notna().to_numpy())
        norm[f] = per_cluster(f, rows)
        # the CRM receives the winning record's own spelling (its normalised value only if it has none)
        golden[f] = per_cluster(f + "_display", rows).fillna(norm[f]) if f in DISPLAY_FIELDS else norm[f]
        golden[f + "_source"] = per_cluster("_src", rows)
    golden["name_type"] = per_cluster("name_type", winners(np.ones(len(g), dtype=bool)))
    prim = acc.loc[acc["is_primary"] == 1, ["cluster_id", "acct_id", "updated_at"]]
    prim = prim.drop_duplicates("cluster_id").set_index("cluster_id")
    golden["primary_acct_id"] = golden["cluster_id"].map(prim["acct_id"])
    golden["primary_updated_at"] = golden["cluster_id"].map(prim["updated_at"])
    rec_pos = gpos.get_indexer(recs["cluster_id"])
    golden["records"] = np.bincount(rec_pos[rec_pos >= 0], minlength=len(golden)).astype(int)
    golden["policy"] = policy.name
    return golden, norm


def _account_keys(golden: pd.DataFrame, norm: dict[str, pd.Series]) -> pd.DataFrame:
    """The CRM account rule and key of each contact (module docstring), from normalised values."""
    is_company = (golden["name_type"].astype("string") == "C").fillna(False) | golden["company"].notna()
    household = norm["last_name"].notna() & norm["street"].notna() & golden["zip5"].notna()
    company_val = norm["company"].fillna(norm["last_name"]).fillna(golden["contact_key"]).astype(str)
    hh_val = norm["last_name"].astype(str) + "|" + norm["street"].astype(str) + "|" + golden["zip5"].astype(str)
    rule = np.where(is_company, "company", np.where(household, "household", "person"))
    golden["account_rule"] = rule
    value = np.where(rule == "company", company_val, np.where(rule == "household", hh_val, golden["contact_key"]))
    prefix = np.where(rule == "company", "ACO", np.where(rule == "household", "AHH", "APN"))
    golden["account_key"] = [_key(p, str(v)) for p, v in zip(prefix.tolist(), value.tolist(), strict=True)]
    return golden


def _name_company_contacts(golden: pd.DataFrame) -> pd.DataFrame:
    """A company-only cluster (an Archtics company name, no person's name anywhere): the CRM needs a
    last name, and the ticketing contact of an organisation is the organisation itself, so its
    contact is named after the company (under its company account), as CRM admins name such
    contacts. first_name stays empty."""
    org = golden["last_name"].isna() & golden["company"].notna()
    golden.loc[org, "last_name"] = golden.loc[org, "company"]
    golden.loc[org, "last_name_source"] = golden.loc[org, "company_source"]
    return golden
