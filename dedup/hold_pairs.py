"""The record pairs that hold a new contact back from the CRM push until a person decides.

Three kinds, each shaped ``record_id_l, record_id_r, key_l, crm_l, key_r, crm_r`` (both sides'
contact key and CRM contact id; ``dedup.account_table.push_holds`` turns them into holds):

- ``review``: open possible matches of the review queue between two clusters;
- ``same_name``: a new contact with a CRM contact's exact name (``_SAME_NAME_SELECT``);
- ``same_email``: two new contacts with the same exact name and the same e-mail or phone
  (``_SAME_EMAIL_SELECT``). Both CRMs flag such a pair as duplicates themselves (Dynamics'
  default duplicate-detection rule "Contacts with the same e-mail address", Salesforce's standard
  contact matching rule on name + e-mail), so KORE creates one and holds the other for review
  rather than pushing both.

Reads ``kore_dedup.*`` through ``dedup.store``'s helpers (store's companion for these reads).
"""

from __future__ import annotations

import pandas as pd

from dedup.arrays import text_set
from dedup.store import SCHEMA, fetch_df
from kore.warehouse import Warehouse

PAIR_COLUMNS = ["record_id_l", "record_id_r", "key_l", "crm_l", "key_r", "crm_r"]
# the named kinds (same_name, same_email) also carry the name both records share: an incremental
# dedup run recomputes only the names its change touched (``named_pairs`` with ``names``)
NAMED_COLUMNS = [*PAIR_COLUMNS, "reason", "first_name", "last_name"]
_NAMED = (
    "with n as (select r.record_id, r.source, r.first_name, r.last_name, r.email, r.phone, c.cluster_id "
    f"from {SCHEMA}.records_norm r join {SCHEMA}.clusters c on c.record_id = r.record_id "
    "where r.first_name is not null and r.last_name is not null{only})"
)
_ONLY = " and exists (select 1 from {names} d where d.first_name = r.first_name and d.last_name = r.last_name)"
# the records of new contacts (no CRM contact in their cluster), with their cluster's contact key;
# joined explicitly (not a correlated EXISTS per pair): at 1M records the pair joins stay small
_NEW = (
    "{name} as (select n.*, g.contact_key, g.crm_contact_id from n "
    f"join {SCHEMA}.golden_contacts g on g.cluster_id = n.cluster_id and g.crm_contact_id is null{{crm_named}})"
)
_CRM_NAMED = " where exists (select 1 from crm where crm.first_name = n.first_name and crm.last_name = n.last_name)"
# both records and both clusters' contact key and CRM contact id; `a` is a new contact's record
_PAIR = (
    "a.record_id as record_id_l, b.record_id as record_id_r, a.contact_key as key_l, "
    "a.crm_contact_id as crm_l, b.contact_key as key_r, b.crm_contact_id as crm_r, "
    "a.first_name, a.last_name"
)


def _ready(wh: Warehouse, *tables: str) -> bool:
    return all(wh.table_exists(SCHEMA, t) for t in tables)


def named_pairs(wh: Warehouse, names: str | None = None) -> pd.DataFrame:
    """The ``same_name`` and ``same_email`` pairs (``NAMED_COLUMNS``), of every name or only of the
    names in the table ``names``. A pair's records share their name, so the pairs of a name depend
    only on that name's records, their clusters and those clusters' golden rows. One statement: the
    named records (``n``, a join of the two largest tables) are read once for both kinds."""
    if not _ready(wh, "records_norm", "clusters", "golden_contacts"):
        return pd.DataFrame(columns=NAMED_COLUMNS)
    only = _ONLY.format(names=names) if names else ""
    sql = (
        f"{_NAMED.format(only=only)}, {_SAME_NAME_CTES}, {_SAME_EMAIL_CTES} "
        f"{_SAME_NAME_SELECT} union all select {_SAME_EMAIL_SELECT}"
    )
    return fetch_df(wh, sql)[NAMED_COLUMNS]


# same_name: records of new contacts (no CRM contact in their cluster) with the same normalised first
# and last name as a CRM contact in another cluster, when no third cluster has that name (``rare``:
# two clusters of one rare name are worth a look, a common name is namesakes) or the two records also
# share the e-mail or the phone (a common name with the CRM contact's own e-mail is the CRM's person
# until someone says otherwise)
_SAME_NAME_CTES = (
    "rare as (select first_name, last_name from n group by first_name, last_name "
    "having count(distinct cluster_id) = 2), "
    "crm as (select n.*, g.contact_key, g.crm_contact_id from n "
    f"join {SCHEMA}.golden_contacts g on g.cluster_id = n.cluster_id where n.source = 'crm'), "
    + _NEW.format(name="nc", crm_named=_CRM_NAMED)
)
# one equi-join per reason a pair qualifies (same e-mail, same phone, a rare name), their union the
# pairs: one join on the name with an OR of the three paired every namesake of a common name first
# (~1.4M rows at a million accounts for 30k dirty names)
_SAME_NAME_ON = (
    "from nc a join crm b on b.first_name = a.first_name and b.last_name = a.last_name{also} "
    "and b.cluster_id <> a.cluster_id"
)
_SAME_NAME_SELECT = " union ".join(
    f"select {_PAIR}, 'same_name' as reason {_SAME_NAME_ON.format(also=also)}{extra}"
    for also, extra in (
        (" and b.email = a.email", ""),
        (" and b.phone = a.phone", ""),
        (
            "",
            " where exists (select 1 from rare where rare.first_name = a.first_name and rare.last_name = a.last_name)",
        ),
    )
)
# same_email: records of two new contacts (neither cluster has a CRM contact) with the same normalised
# first and last name and the same e-mail or phone, once per pair of clusters (the smaller contact key
# on the left): the CRM's own duplicate rules would flag the second, so it waits for review
_SAME_EMAIL_ON = (
    "from nn a join nn b on b.first_name = a.first_name and b.last_name = a.last_name and b.{f} = a.{f} "
    "where b.cluster_id <> a.cluster_id and a.contact_key < b.contact_key"
)
_SAME_EMAIL_CTES = (
    _NEW.format(name="nn", crm_named="") + ", "
    f"pe as (select {_PAIR} {_SAME_EMAIL_ON.format(f='email')} union select {_PAIR} {_SAME_EMAIL_ON.format(f='phone')}), "
    "p as (select pe.*, row_number() over (partition by key_l, key_r order by record_id_l, record_id_r) as k from pe)"
)
_SAME_EMAIL_SELECT = (
    "record_id_l, record_id_r, key_l, crm_l, key_r, crm_r, first_name, last_name, 'same_email' as reason from p "
    "where k = 1"
)


def _review_keys(pairs: str) -> str:
    """The review pairs of ``pairs`` (a table or CTE of review_queue rows) with both clusters' golden
    rows. Callers narrow ``pairs`` to the rows they need FIRST: joined whole, the queue's every row
    met both clusters and both golden rows before a filter on the records dropped most of them."""
    return (
        f"from {pairs} q join {SCHEMA}.clusters cl on cl.record_id = q.record_id_l "
        f"join {SCHEMA}.clusters cr on cr.record_id = q.record_id_r "
        f"join {SCHEMA}.golden_contacts gl on gl.cluster_id = cl.cluster_id "
        f"join {SCHEMA}.golden_contacts gr on gr.cluster_id = cr.cluster_id"
    )


def _touching(ids: str) -> str:
    """The review_queue pairs with a record of ``ids`` on a side (``ids``: the select list and source of
    a subquery, e.g. ``id from kore_dedup._reach``)."""
    return (
        f"select record_id_l, record_id_r from {SCHEMA}.review_queue "
        f"where record_id_l in (select {ids}) or record_id_r in (select {ids})"
    )


def review_contact_pairs(wh: Warehouse, keys: str | None = None) -> pd.DataFrame:
    """Open possible matches between two clusters, with both clusters' contact key and CRM contact id
    (``keys``: a table of contact keys; only the pairs with one of them on a side)."""
    if not _ready(wh, "review_queue", "clusters", "golden_contacts"):
        return pd.DataFrame(columns=PAIR_COLUMNS)
    head, pairs = "", f"{SCHEMA}.review_queue"
    if keys:  # the records of those keys' clusters, then the queue's pairs touching them
        head = (
            f"with kr as (select c.record_id from {SCHEMA}.clusters c join {SCHEMA}.golden_contacts g "
            f"on g.cluster_id = c.cluster_id where g.contact_key in (select id from {keys})), "
            f"kq as ({_touching('record_id from kr')}) "
        )
        pairs = "kq"
    return fetch_df(
        wh,
        f"{head}select q.record_id_l, q.record_id_r, gl.contact_key as key_l, gl.crm_contact_id as crm_l, "
        f"gr.contact_key as key_r, gr.crm_contact_id as crm_r {_review_keys(pairs)}",
    )


def reached_keys(wh: Warehouse, records: str) -> set[str]:
    """Contact keys whose hold a change of the records in the table ``records`` can move: the keys
    held by a pair touching one of them (the stored holds) and both keys of every review pair
    touching one of them (``dedup.holds``)."""
    S = SCHEMA
    # both sides' keys from one pass over the review pairs (two arms joining them again each did the
    # joins twice, in the shape DuckDB's common_subplan answered wrongly: kore/warehouse.py)
    rows = fetch_df(
        wh,
        f"with rq as ({_touching(f'id from {records}')}) "
        f"select contact_key as key_l, null as key_r from {S}.push_holds where record_id in "
        f"(select id from {records}) or partner_record_id in (select id from {records}) "
        f"union all select gl.contact_key, gr.contact_key {_review_keys('rq')}",
    )
    return text_set(rows["key_l"]) | text_set(rows["key_r"])
