"""The org's own metadata, read once per client: which tables and fields exist and what they are called.

Why: names that a client derives by rule (``fax`` → ``faxs``) are wrong on some tables, and a push
into an org that lacks a field fails row by row after it has started writing. Reading the org's
definitions gives the real names and lets ``kore crm verify`` list what is missing before anything
is written.

- Dataverse: ``GET EntityDefinitions?$select=LogicalName,EntitySetName,PrimaryIdAttribute`` (all
  tables, once) and ``EntityDefinitions(LogicalName='x')/Attributes?$select=LogicalName`` per table
  (https://learn.microsoft.com/en-us/power-apps/developer/data-platform/webapi/use-web-api-metadata).
- Salesforce: ``sobjects/{Object}/describe`` per object (field ``name`` and ``relationshipName``)
  (https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_sobject_describe.htm).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import requests

from crm_clients.http import CrmClientError, raise_for

Request = Callable[..., requests.Response]


class DataverseMetadata:
    """Entity-set names and attribute names of a Dataverse org (cached for the client's lifetime)."""

    def __init__(self, api: str, request: Request):
        self.api = api
        self._request = request
        self._lock = threading.Lock()
        self._sets: dict[str, str] | None = None
        self._fields: dict[str, set[str] | None] = {}

    def load(self) -> dict[str, str]:
        """logical name → entity-set name of every table (one request, then cached)."""
        with self._lock:
            if self._sets is None:
                params = {"$select": "LogicalName,EntitySetName,PrimaryIdAttribute"}
                resp = self._request("GET", self.api + "EntityDefinitions", params=params)
                raise_for(resp, "GET EntityDefinitions")
                self._sets = {d["LogicalName"]: d["EntitySetName"] for d in resp.json().get("value", [])}
            return self._sets

    def entity_set(self, logical_name: str) -> str:
        sets = self.load()
        if logical_name not in sets:
            raise CrmClientError(
                f"the Dataverse org has no table {logical_name!r} (kore crm verify lists what is missing)"
            )
        return sets[logical_name]

    def fields_of(self, logical_name: str) -> set[str] | None:
        """Attribute logical names of the table; None when the org has no such table."""
        if logical_name not in self.load():
            return None
        with self._lock:
            if logical_name not in self._fields:
                url = f"{self.api}EntityDefinitions(LogicalName='{logical_name}')/Attributes"
                resp = self._request("GET", url, params={"$select": "LogicalName"})
                raise_for(resp, f"GET EntityDefinitions({logical_name})/Attributes")
                self._fields[logical_name] = {a["LogicalName"] for a in resp.json().get("value", [])}
            return self._fields[logical_name]


class SalesforceDescribe:
    """Field and relationship names of Salesforce objects, from ``describe`` (cached per object)."""

    def __init__(self, describe: Callable[[str], dict[str, Any] | None]):
        self._describe = describe
        self._lock = threading.Lock()
        self._fields: dict[str, set[str] | None] = {}

    def fields_of(self, sobject: str) -> set[str] | None:
        """Field names and relationship names of the object; None when the org has no such object."""
        with self._lock:
            if sobject not in self._fields:
                desc = self._describe(sobject)
                if desc is None:
                    self._fields[sobject] = None
                else:
                    names = {f["name"] for f in desc.get("fields", [])}
                    names |= {f["relationshipName"] for f in desc.get("fields", []) if f.get("relationshipName")}
                    self._fields[sobject] = names
            return self._fields[sobject]
