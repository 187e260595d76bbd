"""Which CRM account each golden contact belongs to, and whether KORE may set it (see ``dedup.accounts``).

Columns added to golden contacts:
- ``crm_owned``: 1 for a contact the CRM had before KORE pushed to it (sticky across runs: once KORE
  has written its key onto that contact, the previous run's flag still says whose it is);
- ``account_key``: the contact's CRM account's KORE key (a pre-existing contact: its current parent's);
- ``crm_account_id``: that account's CRM id when it is a CRM account KORE reuses;
- ``link_account``: 1 when the push sets the contact's parent, 0 when it must leave it alone;
- ``account_match``: identity | crm_match | crm_parent | new | review | none (why that account);
- ``account_score``, ``account_evidence``: the match's bits and evidence;
- ``proposed_account_key``: for a pre-existing contact, the account dedup would choose when it
  differs from the current parent (waits for ``kore dedup approve-move``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from dedup.accounts import canonical_key, crm_account_frame, match_accounts


def crm_owned(golden: pd.DataFrame, crm_keys: pd.Series, previous_owned: pd.Series) -> pd.Series:
    """1 for contacts the CRM had before KORE: a CRM contact without a KORE key, or one the last run
    already called so (``previous_owned``: by contact key). ``crm_keys``: CRM id -> its KORE key."""
    in_crm = golden["crm_contact_id"].notna().to_numpy()
    out = np.zeros(len(golden), dtype=int)
    if not in_crm.any():
        return pd.Series(out, index=golden.index)
    # looked up for the contacts with a CRM id only (a fifth of a million golden rows: mapping every
    # row's text key took ~4 s)
    ids = golden["crm_contact_id"].to_numpy(dtype=object)[in_crm].astype(str)
    key = crm_keys.reindex(ids)
    untouched = key.isna().to_numpy() | (key.astype("string").str.len() == 0).fillna(True).to_numpy()
    contact = golden["contact_key"].to_numpy(dtype=object)[in_crm]
    before = previous_owned.reindex(contact).fillna(0).astype(int).to_numpy() == 1
    out[in_crm] = untouched | before
    return pd.Series(out, index=golden.index)


def attach(
    golden: pd.DataFrame,
    crm_accounts: pd.DataFrame,
    parents: pd.Series,
    owned: pd.Series,
    approved_moves: set[str],
    verdicts: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Set the account columns (module docstring). ``parents``: CRM contact id -> its parent account's
    CRM id; ``owned``: ``crm_owned`` per row; ``approved_moves``: contact keys a person let move."""
    g = golden.copy()
    for c in ("account_key", "crm_contact_id", "contact_key"):
        g[c] = g[c].astype(object).where(g[c].notna(), None)
    g["crm_owned"] = owned.to_numpy()
    m = match_accounts(g, crm_accounts, verdicts).set_index("account_key")
    derived = g["account_key"]
    # each contact's match row found once (mapping the text keys per column took ~3 s at 1M)
    at = m.index.get_indexer(derived.to_numpy(dtype=object))

    def of_match(column: str) -> pd.Series:
        """``derived.map(m[column])``: the column's value of each contact's match row (NaN: none)."""
        return pd.Series(pd.api.extensions.take(m[column].array, at, allow_fill=True), index=derived.index)

    decision = of_match("decision").fillna("none")
    matched = decision == "match"
    target_key = derived.where(~matched, of_match("canonical_key"))
    crm_account_id = of_match("crm_account_id")
    g["crm_account_id"] = crm_account_id.where(matched, None)
    evidence = of_match("account_evidence")
    g["account_score"] = of_match("account_score").fillna(0.0)
    g["account_evidence"] = evidence.fillna("")
    ident = evidence.eq("identity")
    g["account_match"] = "new"
    g.loc[matched, "account_match"] = "crm_match"
    g.loc[matched & ident, "account_match"] = "identity"
    review = decision == "possible"
    g.loc[review, "account_match"] = "review"
    g["account_key"] = target_key.where(~review, None)
    g["link_account"] = (~review).astype(int)
    g["proposed_account_key"] = derived.where(review, None)  # a possible match waits for a person
    g.loc[review, "crm_account_id"] = crm_account_id[review]
    for c in ("account_key", "crm_account_id", "proposed_account_key", "account_match", "account_evidence"):
        g[c] = g[c].astype(object)
    keep = (g["crm_owned"] == 1) & ~g["contact_key"].isin(approved_moves)
    return _keep_parents(g, keep, target_key, crm_accounts, parents)


def _keep_parents(
    g: pd.DataFrame, keep: pd.Series, target_key: pd.Series, crm_accounts: pd.DataFrame, parents: pd.Series
) -> pd.DataFrame:
    """Pre-existing contacts (``keep``) stay under their CRM parent: no link, the parent's key."""
    crm = crm_account_frame(crm_accounts).set_index("crm_id") if len(crm_accounts) else pd.DataFrame()
    parent = g["crm_contact_id"].astype(object).map(parents).astype(object).where(keep, None)
    by_crm = crm["canonical_key"] if len(crm) else pd.Series(dtype=object)
    parent_key = pd.Series(
        [by_crm.get(p, canonical_key(p, None)) if isinstance(p, str) else None for p in parent],
        index=g.index,
        dtype=object,
    )
    g.loc[keep, "link_account"] = 0
    differs = keep & (target_key.notna()) & (target_key != parent_key)
    g.loc[differs, "proposed_account_key"] = target_key[differs]
    g.loc[keep, "account_key"] = parent_key[keep]
    g.loc[keep, "crm_account_id"] = parent[keep]
    g.loc[keep, "account_match"] = parent[keep].map(lambda p: "crm_parent" if isinstance(p, str) else "none")
    g.loc[keep, ["account_score", "account_evidence"]] = [0.0, ""]
    return g
