"""The dedup person record: the columns of ``dedup.dedup_person_records``, defined once.

One row per Archtics name and per CRM contact. The dbt view builds exactly these columns (checked by
``tests/test_dedup_contract.py`` against a built warehouse); the dedup engine reads them, stores them
in ``kore_dedup.records_norm`` and fills any that an input lacks (file mode, the benchmark) with
nulls. Why one place: the list used to be repeated in the engine, the normaliser, file mode and the
benchmark's SQL, and a column added to one of them silently went missing in another.

``PERSON_RECORD_COLUMNS``: the columns in the view's order; ``COLUMN_PURPOSE`` says what each is for.
Subsets (named by the contract, checked to be columns of it by the test):

* ``NAME_FIELDS``, ``CONTACT_FIELDS``, ``ADDRESS_FIELDS``: the groups the lists below are made of;
* ``PERSON_FIELDS``: the match-ready person attributes the normaliser cleans and the comparators
  read (``full_name`` only feeds the last name when a record has no split name);
* ``GOLDEN_FIELDS``: the person attributes a golden contact carries (in its column order, each with
  ``<field>_source``): every person field but ``full_name``;
* ``DISPLAY_FIELDS``: attributes that also travel in the source's own spelling as
  ``<field>_display`` (golden contacts -- what the CRM receives -- are built from those).
"""

from __future__ import annotations

COLUMN_PURPOSE: dict[str, str] = {
    "record_id": "unique key of the record: 'A:<acct_id>:<cust_name_id>' or 'C:<crm_contact_id>'",
    "source": "'archtics' (an Archtics name), 'crm' (a CRM contact) or 'file' (file mode)",
    "acct_id": "Archtics account id (Archtics names); accounts are mapped to contacts by it",
    "cust_name_id": "Archtics name id within the account (Archtics names)",
    "crm_contact_id": "the CRM's contact id (CRM contacts): the contact a cluster updates",
    "is_primary_name": "1 for the account's primary name: it stands for the account",
    "first_name": "normalised first name (matching)",
    "last_name": "normalised last name (matching)",
    "full_name": "normalised full name; split into first/last when those are missing",
    "company": "normalised company name (matching; a company account's key)",
    "email": "normalised e-mail address (matching, blocking)",
    "phone": "phone as E.164 digits (matching, blocking)",
    "street": "normalised street with USPS abbreviations (matching, household key)",
    "city": "normalised city (matching)",
    "state": "normalised state (golden field)",
    "zip5": "five-digit ZIP (matching, blocking, household key)",
    "birth_date": "ISO birth date YYYY-MM-DD (matching, blocking)",
    "name_type": "Archtics name type: 'C' a company, never merged with a person; 'I' a person",
    "acct_type_desc": "Archtics Account Type (the exclusion rule reads it)",
    "is_excluded_account_type": "1 when the Account Type is excluded: the record is not deduplicated",
    "archtics_account_id_on_crm": "Archtics account id a CRM contact carries: a deterministic link",
    "first_name_display": "first name in the source's spelling (golden contact)",
    "last_name_display": "last name in the source's spelling (golden contact)",
    "company_display": "company in the source's spelling (golden contact)",
    "street_display": "street in the source's spelling (golden contact)",
    "city_display": "city in the source's spelling (golden contact)",
    "state_display": "state code, upper case (golden contact)",
    "kore_external_key": "KORE contact key a CRM contact carries: it is that cluster's contact",
    "crm_account_key": "KORE key of the CRM contact's parent account",
    "last_activity_at": "last activity (the default policy's primary account: most recent)",
    "updated_at": "last change of the record (which source's value wins a golden field)",
    "row_hash": "hash of the record's values: an incremental run re-scores records whose hash changed",
}
PERSON_RECORD_COLUMNS: tuple[str, ...] = tuple(COLUMN_PURPOSE)

NAME_FIELDS: tuple[str, ...] = ("first_name", "last_name")
CONTACT_FIELDS: tuple[str, ...] = ("email", "phone")
ADDRESS_FIELDS: tuple[str, ...] = ("street", "city", "state", "zip5")

PERSON_FIELDS: tuple[str, ...] = (*NAME_FIELDS, "full_name", "company", *CONTACT_FIELDS, *ADDRESS_FIELDS, "birth_date")
GOLDEN_FIELDS: tuple[str, ...] = (*NAME_FIELDS, *CONTACT_FIELDS, *ADDRESS_FIELDS, "company", "birth_date")

DISPLAY_FIELDS: tuple[str, ...] = ("first_name", "last_name", "company", "street", "city", "state")
