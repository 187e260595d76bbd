"""CRM accounts: match Archtics companies/households to the CRM's own accounts, never move a CRM contact.

Why: without this every organisation the CRM already had got a second, KORE-created account, and every
contact the CRM already had was moved under it (away from its owners, opportunities and history).

Account matching (:func:`match_accounts`), per KORE account key of a golden contact (the key dedup
derives: company name, or family name + street + ZIP), against the CRM's accounts
(``kore.SyncedAccounts``), scored with explainable evidence:

=================  =====  ======================================================================
evidence           bits   when
=================  =====  ======================================================================
identity           --     the CRM account already carries this key (an account KORE created)
archtics_id        10     the CRM account carries an Archtics account id of one of the contacts
name               6      same normalised name (company without legal suffixes; "<last> household")
name~NN            3      similar name (rapidfuzz token-sort ratio NN >= ``FUZZY_NAME``)
phone              3      same phone (E.164 digits)
street+zip         3      same normalised street and ZIP5
city               1      same city
=================  =====  ======================================================================

A best candidate with >= ``MATCH_BITS`` is a match (households also need street+zip); a lone
similar name (>= ``POSSIBLE_BITS``), or two equally good candidates, is a *possible* match: it waits
for a person (``account_review``), and meanwhile KORE creates no account for it. A person's decision
(``kore dedup account-match``) overrides either way.

Contact parents (:func:`attach`): a contact the CRM already had (``crm_owned``: it existed before KORE
pushed anything to it, sticky across runs) keeps its CRM parent: no parent link is sent, its
``account_key`` is its current parent's key (KORE writes that key onto the parent, nothing else) and a
different account dedup would choose is proposed for review (``approve-move``). KORE-created contacts
attach to the matched CRM account, else to a new KORE account.

A matched CRM account is reused (updated by its CRM id, KORE's key written onto it); its key is its
own KORE key when it has one, else ``ACR`` + hash of its CRM id (one key per CRM account, whatever the
spelling that found it).
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
from rapidfuzz import fuzz, process

from dedup.normalize import norm_company, norm_phone, norm_street, norm_text, norm_zip5, per_value, token_sorted

MATCH_BITS = 6
POSSIBLE_BITS = 3
FUZZY_NAME = 90
SIMILAR_CHUNK = 2048  # distinct candidate names per similarity matrix (x CRM names bytes)
EVIDENCE_BITS = {"archtics_id": 10, "name": 6, "name~": 3, "phone": 3, "street+zip": 3, "city": 1}
MATCH_COLUMNS = ["account_key", "crm_account_id", "canonical_key", "account_score", "account_evidence", "decision"]


def _key(prefix: str, value: str) -> str:
    return prefix + hashlib.sha1(value.encode("utf-8")).hexdigest()[:16]


def canonical_key(crm_id: str, kore_key: object) -> str:
    """The KORE key of a CRM account: the one it carries, else ``ACR`` + hash of its CRM id."""
    return str(kore_key) if isinstance(kore_key, str) and kore_key else _key("ACR", str(crm_id))


def crm_account_frame(crm_accounts: pd.DataFrame) -> pd.DataFrame:
    """The CRM's accounts with match-ready columns (``n_*``) and their canonical key."""
    a = crm_accounts.copy()
    for c in ("crm_id", "name", "phone", "street", "city", "postal_code", "archtics_account_id", "kore_external_key"):
        if c not in a:
            a[c] = pd.NA
    a["n_name"] = norm_company(a["name"])
    a["n_phone"] = norm_phone(a["phone"])
    a["n_street"] = norm_street(a["street"])
    a["n_zip"] = norm_zip5(a["postal_code"])
    a["n_city"] = norm_text(a["city"])
    a["canonical_key"] = [canonical_key(i, k) for i, k in zip(a["crm_id"], a["kore_external_key"], strict=True)]
    return a.reset_index(drop=True)


def account_candidates(golden: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One row per derived KORE account key (company/household) with its match-ready attributes, and
    the Archtics accounts of its contacts as (account_key, acct_id) rows (a long frame, not a set per
    key: a million keys' sets took minutes to build in Python)."""
    cols = ["account_key", "contact_key", "account_rule", "company", "last_name", "phone", "street", "zip5", "city",
            "primary_acct_id"]  # fmt: skip
    g = golden.loc[golden["account_rule"].isin(["company", "household"]) & golden["account_key"].notna(), cols]
    g = g.sort_values(["account_key", "contact_key"])  # the columns read only: the golden table is wide
    name = np.where(
        g["account_rule"] == "company",
        g["company"].fillna(g["last_name"]).astype("string"),
        (g["last_name"].astype("string") + " household"),
    )
    c = pd.DataFrame(
        {
            "account_key": g["account_key"].to_numpy(),
            "account_rule": g["account_rule"].to_numpy(),
            # each rule once per distinct value (households share names, cities and zips repeat)
            "n_name": per_value(norm_company, pd.Series(name, dtype="string")).to_numpy(),
            "n_phone": per_value(norm_phone, g["phone"]).to_numpy(),
            "n_street": per_value(norm_street, g["street"]).to_numpy(),
            "n_zip": per_value(norm_zip5, g["zip5"]).to_numpy(),
            "n_city": per_value(norm_text, g["city"]).to_numpy(),
            "acct_id": g["primary_acct_id"].astype("string").to_numpy(),
        }
    )
    links = c[["account_key", "acct_id"]].dropna().drop_duplicates().reset_index(drop=True)
    c = c.drop_duplicates("account_key").drop(columns="acct_id")
    return c.reset_index(drop=True), links


def _distinct(names: pd.Series) -> np.ndarray:
    names = names.dropna()
    return pd.unique(names[names != ""].to_numpy(dtype=object))


def similar_names(left: pd.Series, right: pd.Series, chunk: int = SIMILAR_CHUNK) -> pd.DataFrame:
    """Distinct non-empty names (``name_l``, ``name_r``) whose token-sort ratio is >= ``FUZZY_NAME``.

    Each distinct name is compared once (households share their family name: at 20k accounts 10,840
    candidate accounts carry 2,031 names), and the left side in chunks of ``chunk`` names, so the
    score matrix stays ``chunk`` x CRM names bytes. One matrix of every candidate by every CRM
    account ran out of memory at 1M accounts (std::bad_alloc).

    The token-sort ratio is the plain ratio of the token-sorted texts, so those are made once per
    name (``fuzz.ratio`` then takes rapidfuzz's vectorised path), and each chunk of left names, taken
    in order of length, is compared only with the CRM names whose length can reach the ratio: it is
    ``100 * (1 - distance / (len_l + len_r))`` and the distance is at least the lengths' difference.
    At 1M accounts (51,827 x 41,114 names) 20.3 s -> 9 s, the same pairs."""
    ul, ur = _distinct(left), _distinct(right)
    out = [pd.DataFrame({"name_l": pd.Series(dtype=object), "name_r": pd.Series(dtype=object)})]
    if not len(ul) or not len(ur):
        return out[0]
    sl, sr = (np.array(token_sorted(names), dtype=object) for names in (ul, ur))
    len_l = np.fromiter(map(len, sl), dtype=np.int64, count=len(sl))
    len_r = np.fromiter(map(len, sr), dtype=np.int64, count=len(sr))
    by_len_l, by_len_r = np.argsort(len_l, kind="stable"), np.argsort(len_r, kind="stable")
    sorted_len_r = len_r[by_len_r]
    slack = (100 - FUZZY_NAME) / 100  # |len_l - len_r| <= slack * (len_l + len_r)
    for start in range(0, len(ul), chunk):
        rows = by_len_l[start : start + chunk]
        lo = np.searchsorted(sorted_len_r, np.floor(len_l[rows[0]] * (1 - slack) / (1 + slack)), "left")
        hi = np.searchsorted(sorted_len_r, np.ceil(len_l[rows[-1]] * (1 + slack) / (1 - slack)), "right")
        cols = by_len_r[lo:hi]
        if not len(cols):
            continue
        # the band padded with empty names (their hits dropped) to a multiple of 8 columns: the mostly
        # zero score matrix is then searched 8 bytes at a time (np.nonzero over every byte took 6 s of a
        # million-account run), and only the 8-byte words with a hit are searched byte by byte
        width = -(-len(cols) // 8) * 8
        targets = list(sr[cols]) + [""] * (width - len(cols))
        sim = process.cdist(
            list(sl[rows]), targets, scorer=fuzz.ratio, score_cutoff=FUZZY_NAME, dtype=np.uint8, workers=-1
        )
        sim = np.ascontiguousarray(sim)
        words = np.flatnonzero(sim.view(np.uint64))
        in_word, byte = np.nonzero(sim.reshape(-1, 8)[words])
        li, ri = np.divmod(words[in_word] * 8 + byte, width)  # row-major order, as np.nonzero(sim) gives
        real = ri < len(cols)  # a blank name is "similar" to the padding
        li, ri = li[real], ri[real]
        out.append(pd.DataFrame({"name_l": ul[rows[li]], "name_r": ur[cols[ri]]}))
    return pd.concat(out, ignore_index=True)


def _pairs(cand: pd.DataFrame, links: pd.DataFrame, crm: pd.DataFrame) -> pd.DataFrame:
    """Candidate (account_key, CRM account) pairs: identity, same/similar name, Archtics id on the CRM."""
    out = []
    ident = cand.merge(crm[["kore_external_key", "crm_id"]], left_on="account_key", right_on="kore_external_key")
    out.append(ident.assign(_identity=1)[["account_key", "crm_id", "_identity"]])
    out.append(
        cand.dropna(subset=["n_name"]).merge(crm.dropna(subset=["n_name"])[["n_name", "crm_id"]])[
            ["account_key", "crm_id"]
        ]
    )
    by_acct = crm.dropna(subset=["archtics_account_id"])
    if len(by_acct):
        ex = links.merge(
            by_acct[["archtics_account_id", "crm_id"]].astype(str), left_on="acct_id", right_on="archtics_account_id"
        )
        out.append(ex[["account_key", "crm_id"]])
    similar = similar_names(cand["n_name"], crm["n_name"])
    if len(similar):
        left = cand[["account_key", "n_name"]].rename(columns={"n_name": "name_l"})
        right = crm[["crm_id", "n_name"]].rename(columns={"n_name": "name_r"})
        out.append(similar.merge(left, on="name_l").merge(right, on="name_r")[["account_key", "crm_id"]])
    p = pd.concat(out, ignore_index=True)
    p["_identity"] = p["_identity"].fillna(0) if "_identity" in p else 0
    return p.sort_values("_identity", ascending=False).drop_duplicates(["account_key", "crm_id"])


def _score(p: pd.DataFrame, links: pd.DataFrame) -> pd.DataFrame:
    """Evidence and bits of each candidate pair (columns ``*_l`` candidate, ``*_r`` CRM account;
    ``links``: each candidate's Archtics accounts)."""
    ev: list[list[str]] = [[] for _ in range(len(p))]
    bits = np.zeros(len(p))

    def add(mask: np.ndarray, label: str | list[str], weight: float) -> None:
        nonlocal bits
        bits = bits + np.where(mask, weight, 0)
        for i in np.flatnonzero(mask):
            ev[i].append(label if isinstance(label, str) else label[i])

    same = lambda c: (p[c + "_l"].notna() & (p[c + "_l"] == p[c + "_r"])).fillna(False).to_numpy()  # noqa: E731
    held = pd.MultiIndex.from_frame(links[["account_key", "acct_id"]].astype(str))
    arch = pd.MultiIndex.from_arrays([p["account_key"].astype(str), p["archtics_account_id"].astype(str)]).isin(held)
    add(arch, "archtics_id", EVIDENCE_BITS["archtics_id"])
    exact = same("n_name")
    add(exact, "name", EVIDENCE_BITS["name"])
    ratio = [fuzz.token_sort_ratio(a or "", b or "") for a, b in zip(p["n_name_l"], p["n_name_r"], strict=True)]
    similar = ~exact & (np.array(ratio) >= FUZZY_NAME)
    add(similar, [f"name~{int(r)}" for r in ratio], EVIDENCE_BITS["name~"])
    add(same("n_phone"), "phone", EVIDENCE_BITS["phone"])
    address = same("n_street") & same("n_zip")
    add(address, "street+zip", EVIDENCE_BITS["street+zip"])
    add(same("n_city"), "city", EVIDENCE_BITS["city"])
    p = p.assign(account_score=bits, account_evidence=[";".join(e) for e in ev], _address=address)
    p.loc[p["_identity"] == 1, ["account_score", "account_evidence"]] = [99.0, "identity"]
    return p


def match_accounts(
    golden: pd.DataFrame, crm_accounts: pd.DataFrame, verdicts: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Per derived account key: ``MATCH_COLUMNS`` (decision match | possible | none); see the module
    docstring. ``verdicts``: a person's decisions (account_key, crm_account_id, accept 1/0)."""
    cand, links = account_candidates(golden)
    crm = crm_account_frame(crm_accounts)
    out = pd.DataFrame({"account_key": cand["account_key"]})
    if not len(cand) or not len(crm):
        return out.assign(
            crm_account_id=None, canonical_key=None, account_score=0.0, account_evidence="", decision="none"
        )
    p = _pairs(cand, links, crm)
    p = p.merge(cand, on="account_key").merge(crm, on="crm_id", suffixes=("_l", "_r"))
    p = _score(p, links)
    household = p["account_rule"] == "household"
    p = p[(p["account_score"] >= POSSIBLE_BITS) & ~(household & ~p["_address"] & (p["_identity"] == 0))]
    p = p.sort_values(["account_key", "account_score", "crm_id"], ascending=[True, False, True])
    best = p.drop_duplicates("account_key")
    runner = p[p["account_key"].duplicated()].drop_duplicates("account_key").set_index("account_key")["account_score"]
    tied = best["account_key"].map(runner).eq(best["account_score"]).to_numpy() & (best["_identity"] == 0).to_numpy()
    decision = np.where((best["account_score"] >= MATCH_BITS) & ~tied, "match", "possible")
    best = best.assign(decision=decision, crm_account_id=best["crm_id"])
    out = out.merge(best[MATCH_COLUMNS], on="account_key", how="left")
    out["decision"] = out["decision"].fillna("none")
    out["account_score"] = out["account_score"].fillna(0.0)
    out["account_evidence"] = out["account_evidence"].fillna("")
    return _apply_verdicts(out, crm, verdicts)


def _apply_verdicts(out: pd.DataFrame, crm: pd.DataFrame, verdicts: pd.DataFrame | None) -> pd.DataFrame:
    """A person's latest decision on an account key wins: accept -> that CRM account; reject -> none."""
    if verdicts is None or not len(verdicts):
        return out
    key_of = crm.set_index("crm_id")["canonical_key"]
    for v in verdicts.itertuples(index=False):
        row = out["account_key"] == v.account_key
        if int(v.accept) == 1 and v.crm_account_id in key_of.index:
            out.loc[row, ["crm_account_id", "canonical_key", "decision"]] = [
                v.crm_account_id,
                key_of[v.crm_account_id],
                "match",
            ]
            out.loc[row, "account_evidence"] = "person"
        elif int(v.accept) == 0:
            same = row & (out["crm_account_id"] == v.crm_account_id)
            out.loc[same, ["crm_account_id", "canonical_key", "decision", "account_evidence"]] = [
                None,
                None,
                "none",
                "person: not this account",
            ]
    return out
