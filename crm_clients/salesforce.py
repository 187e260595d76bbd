"""Salesforce REST client on simple-salesforce: OAuth token, SOQL paging, sObject Collections upserts.

Credentials: ``client_id`` and one of
- ``username`` + ``private_key_file``: the OAuth 2.0 JWT bearer flow (RS256 assertion, ``aud``
  = ``audience``, default ``https://login.salesforce.com``; use ``https://test.salesforce.com`` for
  sandboxes), https://help.salesforce.com/apex/HTViewHelpDoc?id=xcloud.remoteaccess_oauth_jwt_flow.htm;
- ``client_secret``: the client credentials flow (HTTP Basic, as simple-salesforce sends it);
- ``grant_type="password"`` with ``client_secret, username, password, security_token``;
[+ ``token_url`` (default ``<base_url>/services/oauth2/token``: the org's My Domain), ``ca_bundle``].
The token request goes through simple-salesforce's ``token_login``. A call answered 401 (session
expired) logs in again and is sent once more, outside the transport's retries.

Writes: sObject Collections upserts, 200 records a call, by the KORE external key (or by ``Id`` for
preexisting records, which go in calls of their own); the CRM answers per record, so one bad record
fails alone.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from crm_clients.base import CrmClient, Outcome, Progress, R, Target, Upserted, chunks, failed_all, run_parallel
from crm_clients.http import CrmClientError, make_session
from crm_clients.metadata import SalesforceDescribe
from kore.contracts import crm_names

JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
T = TypeVar("T")
COLLECTION_SIZE = 200


class SalesforceClient(CrmClient):
    """Salesforce REST client. Thread-safe (one Salesforce object per thread)."""

    flavor = "salesforce"
    epoch = "1900-01-01T00:00:00.000+0000"
    page_size = 2000
    _token: tuple[str, str] | None = None  # (access token, instance URL), requested on first use
    _generation = 0  # bumped on every new login: per-thread Salesforce objects of older ones are stale
    _describe: SalesforceDescribe | None = None

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

    def _token_request(self) -> tuple[dict[str, str], dict[str, str] | None]:
        """(form, headers) of the token request for the configured grant."""
        c = self.credentials
        if not c.get("client_id"):
            raise CrmClientError("Salesforce credentials missing: client_id (KORE_CRM_CLIENT_ID)")
        if c.get("grant_type") == "password":
            form = {"grant_type": "password", "client_id": c["client_id"], "client_secret": c.get("client_secret", "")}
            form.update(username=c.get("username", ""), password=c.get("password", "") + c.get("security_token", ""))
            return form, None
        if c.get("private_key_file") and c.get("username"):
            import jwt

            claims = {
                "iss": c["client_id"],
                "sub": c["username"],
                "aud": c.get("audience") or "https://login.salesforce.com",
                "exp": int(time.time()) + 180,
            }
            assertion = jwt.encode(claims, Path(c["private_key_file"]).read_bytes(), algorithm="RS256")
            return {"grant_type": JWT_GRANT, "assertion": assertion}, None
        if not c.get("client_secret"):
            raise CrmClientError(
                "Salesforce credentials missing: client_secret (KORE_CRM_CLIENT_SECRET), or username and "
                "private_key_file for the JWT bearer flow (KORE_CRM_USERNAME, KORE_CRM_PRIVATE_KEY_FILE)"
            )
        basic = base64.b64encode(f"{c['client_id']}:{c['client_secret']}".encode()).decode()
        return {"grant_type": "client_credentials"}, {"Authorization": f"Basic {basic}"}

    def _login(self) -> tuple[str, str]:
        from simple_salesforce.exceptions import SalesforceAuthenticationFailed
        from simple_salesforce.login import token_login

        with self._token_lock:
            if self._token is None:
                c = self.credentials
                form, headers = self._token_request()
                token_url = c.get("token_url") or f"{self.base_url}/services/oauth2/token"
                session = make_session(c.get("ca_bundle"), self.timeout)
                try:
                    token, instance = token_login(token_url, form, "login", c["client_id"], headers, None, session)
                except SalesforceAuthenticationFailed as exc:
                    raise CrmClientError(f"Salesforce token request to {token_url} failed: {exc}") from exc
                self._token = (token, f"https://{instance}" if instance else self.base_url)
            return self._token

    def _relogin(self, stale: int) -> None:
        """The session expired: log in again (once, whichever thread sees the 401 first)."""
        with self._token_lock:
            if self._generation == stale:
                self._token = None
                self._generation += 1

    @property
    def sf(self):
        from simple_salesforce import Salesforce

        sf = getattr(self._local, "sf", None)
        if sf is None or getattr(self._local, "generation", -1) != self._generation:
            generation = self._generation
            token, instance = self._login()
            sf = Salesforce(
                instance_url=instance,
                session_id=token,
                session=make_session(self.credentials.get("ca_bundle"), self.timeout),
                version=crm_names.API_VERSION_SALESFORCE,
            )
            self._local.sf, self._local.generation = sf, generation
        return sf

    def call(self, fn: Callable[[Any], T]) -> T:
        """``fn(self.sf)``; on an expired session, one new login and one more try."""
        from simple_salesforce.exceptions import SalesforceExpiredSession

        generation = self._generation
        try:
            return fn(self.sf)
        except SalesforceExpiredSession:
            self._relogin(generation)
            return fn(self.sf)

    def open(self) -> None:
        """Log in now, so wrong credentials or a wrong URL fail before anything is read or written."""
        self._login()

    def fields_of(self, crm_name: str) -> set[str] | None:
        if self._describe is None:
            self._describe = SalesforceDescribe(self._describe_one)
        return self._describe.fields_of(crm_name)

    def _describe_one(self, sobject: str) -> dict[str, Any] | None:
        from simple_salesforce.exceptions import SalesforceResourceNotFound

        try:
            return self.call(lambda sf: sf.restful(f"sobjects/{sobject}/describe"))
        except SalesforceResourceNotFound:
            return None

    # -- reading ---------------------------------------------------------------------------------

    def query_pages(self, soql: str, page_size: int = 2000) -> Iterator[list[dict[str, Any]]]:
        """The records of a SOQL query, one list per page."""
        headers = {"Sforce-Query-Options": f"batchSize={page_size}"}
        res = self.call(lambda sf: sf.query(soql, headers=headers))
        while True:
            yield res.get("records", [])
            if res.get("done", True) or not res.get("nextRecordsUrl"):
                break
            url = res["nextRecordsUrl"]
            res = self.call(lambda sf, url=url: sf.query_more(url, identifier_is_url=True, headers=headers))

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
            data = json.dumps(payload, default=str)
            res = self.call(
                lambda sf: sf.restful(f"composite/sobjects/{sobject}/{ext_field}", method="PATCH", data=data)
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
