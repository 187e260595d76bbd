"""Active / inactive: how each CRM flavour marks a record withdrawn without deleting it.

Retractions (``reverse_etl.retractions``) never delete a CRM record: sales history, activities and
reports keep pointing at it. They *deactivate* it, the way each vendor documents:

- Dynamics 365 / Dataverse: every table (standard and custom) has ``statecode`` (State: 0 Active,
  1 Inactive) and ``statuscode`` (Status Reason; the default reasons are 1 Active, 2 Inactive).
  Deactivating is ``PATCH {"statecode": 1, "statuscode": 2}``; reactivating the reverse.
- Salesforce: Contact, Account and custom objects have no standard active flag (only a few objects
  such as Product2 or User have ``IsActive``). The KORE managed package (namespace ``koreps``)
  carries a status picklist, ``koreps__KORE_Sync_Status__c`` (``Active`` / ``Inactive``; named like
  the package's ``koreps__KORE_External_Key__c``, so it can never clash with a KORE attribute such as
  a deal's ``status`` -> ``koreps__Status__c``), on the objects it writes; a record is withdrawn by
  setting it to ``Inactive``.

The sandbox CRM accepts these fields on every table, and the integrity audit reads them back.
"""

from __future__ import annotations

from typing import Any

DYN_STATE, DYN_STATUS = "statecode", "statuscode"
SF_STATUS = "koreps__KORE_Sync_Status__c"

_INACTIVE: dict[str, dict[str, Any]] = {
    "dynamics": {DYN_STATE: 1, DYN_STATUS: 2},
    "salesforce": {SF_STATUS: "Inactive"},
}
_ACTIVE: dict[str, dict[str, Any]] = {
    "dynamics": {DYN_STATE: 0, DYN_STATUS: 1},
    "salesforce": {SF_STATUS: "Active"},
}


def inactive_fields(flavor: str) -> dict[str, Any]:
    """The body that withdraws a record in ``flavor``'s CRM."""
    return dict(_INACTIVE[flavor])


def active_fields(flavor: str) -> dict[str, Any]:
    """The body that makes a withdrawn record active again (a returned ticket re-bought, ...)."""
    return dict(_ACTIVE[flavor])


def state_fields(flavor: str) -> tuple[str, ...]:
    """The fields that hold a record's state (what the sandbox accepts and the audit reads)."""
    return tuple(_INACTIVE[flavor])


def is_inactive(flavor: str, record: dict[str, Any]) -> bool:
    """True when the record carries the flavour's inactive state (a record without the fields is
    active: both CRMs create records active)."""
    if flavor == "dynamics":
        v = record.get(DYN_STATE)
        return v is not None and str(v).split(".")[0] == "1"
    return str(record.get(SF_STATUS) or "").strip().lower() == "inactive"


# Records removed in the CRM (deleted, merged or deactivated by a person there). The CRM pull lists
# them (``dlt_pipelines/crm/baseline.py``); the push withholds their rows and asks for a review of
# their Archtics accounts (``reverse_etl/removed.py``); ``kore dedup review list`` shows the requests.
REMOVED_RECORDS = ("ops", "crm_removed_records")
REVIEW_REQUESTS = ("ops", "crm_review_requests")
REVIEW_REQUEST_COLUMNS = ("crm_flavor", "entity", "external_key", "crm_id", "acct_id", "reason", "requested_at")
