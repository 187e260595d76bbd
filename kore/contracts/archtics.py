"""Archtics datasets as the sandbox produces them: column lists, business keys, change-time rules.

One definition shared by the export generator (which writes these columns in this order) and the
sandbox Archtics API (which orders and pages changes by these keys), so the two can never disagree.

Column names are the source system's (see ``shared/domain/archtics-raw-schema.md``); for the three
datasets that page lists only by grain (cust_rep, events_in_plan, note) the columns follow the
widely used Archtics extract layouts (``TM_CustRep``, ``TM_EventsInPlan``, ``TM_Note``).

Change time ("cursor") of a row:

* ``cursor`` datasets carry their own timestamp column (cust.upd_date, ticket.upd_datetime, ...).
* ``parent`` datasets are *child lists* without a timestamp of their own: cust_address, cust_email,
  cust_rep take the account's change time (max cust.upd_date of the account), events_in_plan takes
  its plan's evnt.upd_date. The API returns such a list whole whenever the parent changed.

This module is the ONE definition of the Archtics contract: the landing pipelines
(``dlt_pipelines.archtics_*``) land these datasets into ``raw_archtics`` with these business keys
(what "the same row" means), cursors (what "newer" means) and child lists (replaced per parent), and
check the declared integer/timestamp/date columns on landing (values stay text); the sandbox
generates and serves them. Facts come from ``shared/domain/archtics-raw-schema.md``.

Account merges: Archtics records a merge as a ``note`` whose text is ``Merged account <old> into
<new>`` (seen with other capitalisation, extra spaces and a trailing '.'). :func:`merge_note_text`
writes it, :data:`MERGE_NOTE` / :func:`parse_merge_note` read it; the warehouse parses the notes in
SQL (``int_archtics_account_merges``), and a test holds that parse to this one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

CUST_COLUMNS = [
    "acct_id", "cust_name_id", "primary_code", "rec_status", "acct_type_desc", "name_type", "salutation",
    "name_first", "name_mi", "name_last", "name_title", "company_name", "street_addr_1", "street_addr_2",
    "city", "state", "zip", "country", "phone_day", "phone_eve", "phone_cell", "phone_fax", "email_addr",
    "email_addr2", "birth_date", "gender", "acct_rep_num", "acct_rep_name", "points", "points_ytd",
    "points_itd", "since_date", "old_acct_id", "household_id", "solicit_email", "solicit_addr",
    "solicit_phone_day", "solicit_phone_eve", "solicit_phone_cell", "add_date", "add_user", "upd_date",
    "upd_user",
] + [f"other_info_{i}" for i in range(1, 21)]  # fmt: skip

CUST_ADDRESS_COLUMNS = [
    "acct_id", "cust_name_id", "cust_address_id", "address_type", "address_type_name", "primary_ind",
    "street_addr_1", "street_addr_2", "city", "state", "zip", "country", "county", "seasonal",
    "start_date", "end_date", "name_prefix", "name_first", "name_middle", "name_last", "name_suffix",
    "nick_name", "company_name", "full_name", "primary_code", "name_type",
]  # fmt: skip

CUST_EMAIL_COLUMNS = [
    "acct_id", "cust_name_id", "email_id", "email_type", "email_type_name", "email_addr", "primary_ind",
    "email_sort", "status", "solicit_email",
]  # fmt: skip

CUST_REP_COLUMNS = [
    "acct_id", "acct_rep_id", "acct_rep_type", "acct_rep_type_name", "rep_cust_name_id", "rep_name_first",
    "rep_name_middle", "rep_name_last", "rep_name_title", "rep_company_name", "rep_nick_name",
    "rep_name_last_first_mi", "rep_full_name", "rep_user_id", "rep_email_addr", "rep_phone",
    "rep_phone_formatted",
]  # fmt: skip

TICKET_COLUMNS = [
    "acct_id", "event_id", "event_name", "plan_event_id", "plan_event_name", "section_id", "section_name",
    "row_id", "row_name", "seat_num", "last_seat", "num_seats", "ticket_status", "tran_type", "order_num",
    "order_line_item", "order_line_item_seq", "price_code", "price_code_desc", "ticket_type", "class_name",
    "full_price", "purchase_price", "block_purchase_price", "paid_amount", "owed_amount", "disc_code",
    "disc_amount", "surchg_amount", "comp_code", "comp_name", "promo_code", "sell_location",
    "sales_source_name", "acct_rep_id", "renewal_ind", "return_reason", "return_datetime",
    "delivery_method", "add_datetime", "add_user", "upd_datetime", "upd_user",
]  # fmt: skip

EVNT_COLUMNS = [
    "event_id", "event_name", "event_name_long", "event_date", "event_time", "event_day", "team", "plan",
    "plan_type", "plan_abv", "season_id", "season_name", "total_events", "arena_name", "event_type",
    "major_category", "minor_category", "enabled", "add_date", "upd_date", "upd_user",
]  # fmt: skip

EVENTS_IN_PLAN_COLUMNS = [
    "plan_group_id", "plan_group_name", "plan_event_id", "plan_event_name", "plan_total_events",
    "plan_type", "event_id", "event_name", "event_date", "event_time", "team", "game_number",
    "total_events", "tm_event_name", "child_is_plan", "season_id",
]  # fmt: skip

SEASON_COLUMNS = [
    "season_id", "name", "season_year", "arena_id", "manifest_id", "org_id", "add_datetime", "upd_datetime",
]  # fmt: skip

NOTE_COLUMNS = [
    "note_id", "acct_id", "add_user", "add_datetime", "note_type", "upd_datetime", "upd_user",
    "contact_category", "contact_subcategory", "contact_response", "contact_type", "task_type", "text",
    "priority", "alert_id", "alert_name", "task_stage_seq_num", "task_activity_code", "task_result_code",
    "task_stage_status_code", "task_activity", "task_result", "task_stage_status",
    "task_assigned_to_user_id", "task_assigned_to_dept_id", "task_dept_name", "task_assignee_notified",
    "task_duration", "task_stage_text", "task_start_date", "task_end_date", "task_probability_to_close",
    "task_probability_to_close_name",
]  # fmt: skip


@dataclass(frozen=True)
class Dataset:
    """How one Archtics dataset is keyed, how its change time is found and which columns are typed."""

    name: str
    columns: list[str]
    business_key: tuple[str, ...]
    cursor: str | None = None  # own change-time column
    parent: str | None = None  # child list: parent dataset whose change time the list takes
    parent_key: tuple[str, ...] = ()  # columns of this dataset that identify the parent
    # declared types, checked on landing (the values stay text; a value that does not parse is quarantined)
    integer_columns: tuple[str, ...] = ()
    timestamp_columns: tuple[str, ...] = ()
    date_columns: tuple[str, ...] = ()

    @property
    def required_columns(self) -> tuple[str, ...]:
        """Columns a part file must carry: without them its rows cannot be keyed, merged or ordered."""
        cols = (*self.business_key, *self.parent_key, *((self.cursor,) if self.cursor else ()))
        return tuple(dict.fromkeys(cols))

    @property
    def is_child_list(self) -> bool:
        """Rows arrive whole per parent (``parent_key``) and replace that parent's rows."""
        return self.parent is not None


DATASETS: dict[str, Dataset] = {
    d.name: d
    for d in [
        Dataset("cust", CUST_COLUMNS, ("acct_id", "cust_name_id"), cursor="upd_date",
                integer_columns=("acct_id", "cust_name_id"), timestamp_columns=("add_date", "upd_date")),
        Dataset("cust_address", CUST_ADDRESS_COLUMNS, ("acct_id", "cust_name_id", "cust_address_id"),
                parent="cust", parent_key=("acct_id",), integer_columns=("acct_id", "cust_name_id")),
        Dataset("cust_email", CUST_EMAIL_COLUMNS, ("acct_id", "cust_name_id", "email_id"),
                parent="cust", parent_key=("acct_id",), integer_columns=("acct_id", "cust_name_id")),
        Dataset("cust_rep", CUST_REP_COLUMNS, ("acct_id", "acct_rep_id", "acct_rep_type"),
                parent="cust", parent_key=("acct_id",), integer_columns=("acct_id",)),
        Dataset("ticket", TICKET_COLUMNS,
                ("event_id", "section_id", "row_id", "seat_num", "ticket_status", "return_datetime"),
                cursor="upd_datetime", integer_columns=("acct_id", "event_id"),
                timestamp_columns=("add_datetime", "upd_datetime", "return_datetime")),
        Dataset("evnt", EVNT_COLUMNS, ("event_id",), cursor="upd_date",
                integer_columns=("event_id",), timestamp_columns=("upd_date",)),
        Dataset("events_in_plan", EVENTS_IN_PLAN_COLUMNS, ("plan_group_id", "plan_event_id", "event_id", "season_id"),
                parent="evnt", parent_key=("plan_event_id",), integer_columns=("event_id",)),
        Dataset("season", SEASON_COLUMNS, ("season_id",), cursor="upd_datetime",
                integer_columns=("season_id",), timestamp_columns=("add_datetime", "upd_datetime")),
        Dataset("note", NOTE_COLUMNS, ("note_id", "task_stage_seq_num"), cursor="upd_datetime",
                integer_columns=("note_id",), timestamp_columns=("upd_datetime",)),
    ]
}  # fmt: skip

DATASET_NAMES: tuple[str, ...] = tuple(DATASETS)
RAW_SCHEMA = "raw_archtics"  # where the landing writes the datasets (one table each), ledger and quarantine
SOURCE_FILE_COLUMN = "_source_file"  # the export part file a landed row came from (NULL: a delta row)
TS_FORMAT = "%Y-%m-%d %H:%M:%S"

# An account merge note: "Merged account <old> into <new>", any case, any spacing, maybe a final '.'.
MERGE_NOTE = re.compile(r"^\s*Merged account\s+(\d+)\s+into\s+(\d+)", re.IGNORECASE)


def merge_note_text(old_acct_id: object, new_acct_id: object) -> str:
    """The note text Archtics writes when it merges account ``old_acct_id`` into ``new_acct_id``."""
    return f"Merged account {old_acct_id} into {new_acct_id}"


def parse_merge_note(text: str | None) -> tuple[str, str] | None:
    """``(old_acct_id, new_acct_id)`` if the note text records an Archtics account merge."""
    if not text:
        return None
    m = MERGE_NOTE.match(text)
    return (m.group(1), m.group(2)) if m else None
