"""The push holds (``kore_dedup.push_holds``): new contacts the CRM push waits on until a person decides.

A hold comes from a pair of records (``dedup.hold_pairs``: open possible matches of the review queue,
same-name and same-e-mail pairs); a contact is held by its first pair in one fixed order (review,
then same name, then same e-mail; then by record ids), unless a person said the pair's two records
are different people (``dedup.account_table.push_holds``). ``held_at`` is when the hold was placed:
a hold that stays the same (contact, reason, both records) keeps it, in full and incremental runs.

A full run computes every pair and every hold. An incremental run recomputes only the holds of the
contact keys its change can reach (``Reach``), so its cost follows the change (at a million accounts
the whole computation read ~250k pairs and rewrote ~90k holds on every run):
- the re-resolved clusters' contact keys, before and after the run;
- the keys held by a pair touching a re-resolved (or removed) record: that pair may be gone;
- both keys of every review pair touching a re-resolved record: the queue's rows touching them are
  rewritten, and a new pair can hold a contact whose own cluster the run left alone;
- both keys of every same-name pair of the names the run recomputed (``hold_name_pairs``), before
  and after: a namesake appearing elsewhere changes which names are rare.
A key's hold depends only on the pairs it is in, and every pair that can have changed is one of
those: the result equals a computation from scratch over the same tables (tests).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from dedup import hold_pairs, store
from dedup.account_table import push_holds
from dedup.arrays import in_ids, text_set
from dedup.decisions import apart_pairs
from kore.warehouse import Warehouse

ORDER = {"review": 0, "same_name": 1, "same_email": 2}  # which pair holds a contact in several


@dataclass
class Reach:
    """What an incremental run changed, as the holds see it."""

    contact_keys: set[str]  # the re-resolved clusters' contact keys, before and after
    records: set[str]  # the re-resolved clusters' records and the removed records
    dirty_names: pd.DataFrame  # (first_name, last_name) of those records, before and after


def in_order(review: pd.DataFrame, named: pd.DataFrame) -> pd.DataFrame:
    """Review and named pairs in the order that decides which pair holds a contact (``ORDER``), the
    same whatever order the queries returned them in."""
    pairs = pd.concat([review.assign(reason="review"), named[[*hold_pairs.PAIR_COLUMNS, "reason"]]], ignore_index=True)
    rank = pairs["reason"].map(ORDER)
    return pairs.assign(_r=rank).sort_values(["_r", "record_id_l", "record_id_r"], kind="stable").drop(columns="_r")


def rebuild(wh: Warehouse, stamp: str) -> pd.DataFrame:
    """Every same-name pair (kept in ``hold_name_pairs``) and every hold (``push_holds`` replaced)."""
    named = hold_pairs.named_pairs(wh)
    store.write_df(wh, "hold_name_pairs", store.text_columns(named), replace=True)
    holds = push_holds(in_order(hold_pairs.review_contact_pairs(wh), named), stamp, _apart(wh))
    holds = _since(holds, store.read_table(wh, "push_holds"))
    store.write_df(wh, "push_holds", store.text_columns(holds), replace=True)
    return holds


def update(wh: Warehouse, stamp: str, reach: Reach) -> tuple[set[str], set[str]]:
    """The holds of the keys ``reach`` reaches, recomputed and rewritten (the module docstring);
    returns every held contact key and the keys whose hold was placed or released."""
    if not wh.table_exists(store.SCHEMA, "hold_name_pairs"):  # a state from before the kept pairs
        was = _held(wh)
        held = text_set(rebuild(wh, stamp)["contact_key"])
        return held, was ^ held
    old_named, new_named = _renew_named_pairs(wh, reach.dirty_names)
    keys = reach.contact_keys | _pair_keys(old_named) | _pair_keys(new_named)
    keys |= hold_pairs.reached_keys(wh, store.write_ids(wh, reach.records, "_reach"))
    kt = store.write_ids(wh, {k for k in keys if k}, "_hold_keys")
    named = store.read_table(
        wh, "hold_name_pairs", where=f"where key_l in (select id from {kt}) or key_r in (select id from {kt})"
    )
    holds = push_holds(in_order(hold_pairs.review_contact_pairs(wh, kt), named), stamp, _apart(wh))
    old = store.rows_where_in(wh, "push_holds", "contact_key", kt)
    holds = _since(holds[in_ids(holds["contact_key"], keys)], old)
    store.replace_rows(wh, "push_holds", ("contact_key",), kt, store.text_columns(holds))
    return _held(wh), text_set(old.get("contact_key", pd.Series())) ^ text_set(holds["contact_key"])


def _since(holds: pd.DataFrame, old: pd.DataFrame) -> pd.DataFrame:
    """``held_at``: when the same hold (contact, reason, both records) was first placed -- the old
    row's stamp, or this run's for a new one: a reviewer sees how long a contact has waited, and a
    run's restamping says nothing."""
    if not len(holds) or not len(old) or "held_at" not in old:
        return holds
    same = ["contact_key", "reason", "record_id", "partner_record_id"]
    since = old[[*same, "held_at"]].astype(str).drop_duplicates(same).rename(columns={"held_at": "_since"})
    out = holds.astype({c: str for c in same}).merge(since, on=same, how="left")
    out["held_at"] = out["_since"].fillna(out["held_at"])
    return out.drop(columns="_since")[list(holds.columns)]


def _renew_named_pairs(wh: Warehouse, names: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Recompute the kept same-name pairs of ``names``; returns their old and new pairs."""
    table = f"{store.SCHEMA}.hold_name_pairs"
    store.write_df(wh, "_names", store.text_columns(names), replace=True)
    dirty = (
        f"exists (select 1 from {store.SCHEMA}._names d "
        f"where d.first_name = {table}.first_name and d.last_name = {table}.last_name)"
    )
    old = store.fetch_df(wh, f"select key_l, key_r from {table} where {dirty}")
    wh.execute(f"delete from {table} where {dirty}")
    new = hold_pairs.named_pairs(wh, f"{store.SCHEMA}._names")
    store.append(wh, "hold_name_pairs", store.text_columns(new))
    return old, new


def _pair_keys(pairs: pd.DataFrame) -> set[str]:
    return text_set(pairs["key_l"]) | text_set(pairs["key_r"])


def _held(wh: Warehouse) -> set[str]:
    return text_set(store.read_table(wh, "push_holds", columns="contact_key").get("contact_key", pd.Series()))


def _apart(wh: Warehouse) -> set[tuple[str, str]]:
    return apart_pairs(store.decisions(wh))
