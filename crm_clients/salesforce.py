"""Salesforce REST client on simple-salesforce: OAuth token, SOQL paging, sObject Collections upserts.

Credentials: ``client_id, client_secret`` (OAuth client credentials) [+ ``grant_type="password"``
with ``username, password, security_token``; ``token_url``; ``ca_bundle``]. The token is requested
on the first call.

Writes: sObject Collections upserts, 200 records a call, by the KORE external key (or by ``Id`` for
preexisting records, which go in calls of their own); the CRM answers per record, so one bad record
fails alone.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from crm_clients.base import CrmClient, Outcome, Progress, R, Target, Upserted, chunks, failed_all, run_parallel
from crm_clients.http import CrmClientError, make_session, raise_for
from kore.contracts import crm_names

COLLECTION_SIZE = 200


class SalesforceClient(CrmClient):
    """Salesforce REST client. Thread-safe (one Salesforce object per thread)."""

    flavor = "salesforce"
    epoch = "1900-01-01T00:00:00.000+0000"
    page_size = 2000
    _token: tuple[str, str] | None = None  # (access token, instance URL), requested on first use

    # -- naming ----------------------------------------------------------------------------------

    def kore_keys(self, crm_name: str) -> tuple[str, str]:
        return "Id", crm_names.SF_EXT_KEY

    def kore_fields(self, key: str, name: Any) -> dict[str, Any]:
        return {crm_names.SF_NAME: name, crm_names.SF_EXT_KEY: key}

    def attribute_field(self, column: str) -> str:
        return crm_names.sf_attribute(column)

    def lookup_field(self, lookup: crm_names.Lookup, value: str) -> tuple[str, Any]:
        if not lookup.by_external_key:
            return crm_names.sf_lookup_field(lookup.target), value
        ext = (
            crm_names.SF_EXT_KEY
            if lookup.kind == "prerequisite"
            else crm_names.field_spec(lookup.target).external_key_field(self.flavor)
        )
        return crm_names.sf_relationship(lookup.target), {ext: value}

    def account_link(self, account_key: str) -> tuple[str, Any]:
        return "Account", {crm_names.field_spec("Account").external_key_field(self.flavor): str(account_key)}

    # -- connection ------------------------------------------------------------------------------

    def _login(self) -> tuple[str, str]:
        with self._token_lock:
            if self._token is None:
                c = self.credentials
                form = {"client_id": c["client_id"], "client_secret": c["client_secret"]}
                if c.get("username") and c.get("password") and c.get("grant_type") == "password":
                    form.update(
                        grant_type="password",
                        username=c["username"],
                        password=c["password"] + c.get("security_token", ""),
                    )
                else:
                    form["grant_type"] = "client_credentials"
                token_url = c.get("token_url") or f"{self.base_url}/services/oauth2/token"
                resp = make_session(c.get("ca_bundle"), self.timeout).post(token_url, data=form)
                raise_for(resp, "Salesforce token")
                data = resp.json()
                self._token = (data["access_token"], data.get("instance_url") or self.base_url)
            return self._token

    @property
    def sf(self):
        from simple_salesforce import Salesforce

        sf = getattr(self._local, "sf", None)
        if sf is None:
            token, instance = self._login()
            sf = Salesforce(
                instance_url=instance,
                session_id=token,
                session=make_session(self.credentials.get("ca_bundle"), self.timeout),
                version=crm_names.API_VERSION_SALESFORCE,
            )
            self._local.sf = sf
        return sf

    # -- reading ---------------------------------------------------------------------------------

    def query_pages(self, soql: str, page_size: int = 2000) -> Iterator[list[dict[str, Any]]]:
        """The records of a SOQL query, one list per page."""
        headers = {"Sforce-Query-Options": f"batchSize={page_size}"}
        res = self.sf.query(soql, headers=headers)
        while True:
            yield res.get("records", [])
            if res.get("done", True) or not res.get("nextRecordsUrl"):
                break
            res = self.sf.query_more(res["nextRecordsUrl"], identifier_is_url=True, headers=headers)

    def iter_pages(
        self, crm_name: str, fields: list[str], id_field: str, modified_field: str, since: str, page_size: int
    ) -> Iterator[list[dict[str, Any]]]:
        soql = (
            f"SELECT {', '.join(fields)} FROM {crm_name} WHERE {modified_field} >= {since} "
            f"ORDER BY {modified_field}, {id_field}"
        )
        return self.query_pages(soql, page_size)

    # -- writing ---------------------------------------------------------------------------------

    def upsert_collection(
        self, sobject: str, ext_field: str, records: list[dict[str, Any]], all_or_none: bool = False
    ) -> list[dict[str, Any]]:
        """sObject Collections upsert (≤ 200 records) → one result per record, in order."""
        from simple_salesforce.exceptions import SalesforceError

        if len(records) > COLLECTION_SIZE:
            raise ValueError("a Salesforce collection holds at most 200 records")
        payload = {
            "allOrNone": all_or_none,
            "records": [{"attributes": {"type": sobject}, **r} for r in records],
        }
        try:
            res = self.sf.restful(
                f"composite/sobjects/{sobject}/{ext_field}", method="PATCH", data=json.dumps(payload, default=str)
            )
        except SalesforceError as exc:
            raise CrmClientError(f"collection upsert {sobject}: HTTP {exc.status}: {str(exc.content)[:300]}") from exc
        return list(res or [])

    def upsert(self, target: Target, rows: list[R], progress: Progress | None = None) -> Upserted:
        """Upsert rows with sObject Collections, 200 a call (by Id for preexisting records)."""

        def one_call(chunk: list[R]) -> Upserted:
            out = self._collection(target, chunk)
            if progress:
                progress(len(chunk))
            return out

        with_id = [r for r in rows if r.crm_id]
        without = [r for r in rows if not r.crm_id]
        parts = list(chunks(with_id, COLLECTION_SIZE)) + list(chunks(without, COLLECTION_SIZE))
        return run_parallel(one_call, parts)

    def _collection(self, target: Target, chunk: list[R]) -> Upserted:
        by_id = bool(chunk[0].crm_id)
        records = [{**r.body, "Id": r.crm_id} if by_id else r.body for r in chunk]
        try:
            results = self.upsert_collection(target.crm_name, "Id" if by_id else target.ext_field, records)
        except (CrmClientError, OSError, ValueError) as exc:
            return failed_all(chunk, f"collection failed: {exc}", 1)
        out = Upserted(requests=1)
        for r, res in zip(chunk, results, strict=False):
            if res.get("success"):
                out.outcomes[r.key] = Outcome("synced", res.get("id"), None, bool(res.get("created")))
            else:
                errs = res.get("errors") or [{}]
                err = f"{errs[0].get('statusCode')}: {errs[0].get('message')}"[:500]
                out.outcomes[r.key] = Outcome("failed", None, err)
        for r in chunk:
            out.outcomes.setdefault(r.key, Outcome("failed", None, "no result for this record"))
        return out
