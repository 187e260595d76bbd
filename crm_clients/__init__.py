"""HTTP clients for the two CRM flavours, used by the CRM pull (dlt) and the push (reverse ETL).

Both flavours offer one interface (:class:`crm_clients.base.CrmClient`); :func:`make_client` is the
one place that picks the flavour's class, so no stage branches on the flavour.
"""

from __future__ import annotations

from crm_clients.base import CrmClient, Outcome, Target, Upserted
from crm_clients.dynamics import DynamicsClient
from crm_clients.http import CrmClientError
from crm_clients.salesforce import SalesforceClient

CLIENTS: dict[str, type[CrmClient]] = {c.flavor: c for c in (DynamicsClient, SalesforceClient)}


def make_client(flavor: str, base_url: str, credentials: dict[str, str], timeout: float) -> CrmClient:
    """The client of ``flavor`` (``dynamics`` or ``salesforce``); constructing it sends nothing.

    ``credentials`` as the flavour's module says (``KORE_CRM_*`` via ``kore.config.crm_credentials()``
    in production, ``CrmSandbox.credentials`` in tests); ``timeout`` is ``Settings.crm_timeout``."""
    if flavor not in CLIENTS:
        raise ValueError(f"flavor must be 'dynamics' or 'salesforce', not {flavor!r}")
    return CLIENTS[flavor](base_url, credentials, timeout)


__all__ = [
    "CrmClient",
    "CrmClientError",
    "DynamicsClient",
    "Outcome",
    "SalesforceClient",
    "Target",
    "Upserted",
    "make_client",
]
