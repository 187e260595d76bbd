"""Dynamics 365 (Dataverse Web API) client: msal token, ``@odata.nextLink`` paging, ``$batch`` upserts.

Credentials: ``client_id, client_secret`` and ``tenant_id`` or ``authority`` (default
``https://login.microsoftonline.com/<tenant_id>``; national clouds and the sandbox set their own),
[+ ``scope`` (default ``<base_url>/.default``), ``ca_bundle``]. The token comes from msal's
``ConfidentialClientApplication`` (client credentials); building that application discovers the
tenant's token endpoint, which is what :meth:`DynamicsClient.open` does. A request answered 401
(token expired or revoked) gets a fresh token and is sent once more, outside the transport's retries.

Names: entity-set names come from the org's table definitions (``EntityDefinitions``, read once per
client by :class:`crm_clients.metadata.DataverseMetadata`), never from a pluralisation rule.

Writes: ``$batch`` of up to 1,000 PATCH upserts by alternate key, in change sets of 100; a change set
that fails rolls back, so its other requests are re-sent one by one and one bad row cannot hold
back its neighbours.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import requests

from crm_clients.base import CrmClient, Outcome, Progress, R, Target, Upserted, chunks, failed_all, run_parallel
from crm_clients.http import CrmClientError, make_session, raise_for
from crm_clients.metadata import DataverseMetadata
from kore.contracts import crm_names, odata_batch

LOGIN_AUTHORITY = "https://login.microsoftonline.com"

BATCH_SIZE = 1000
CHANGESET_SIZE = 100
Batch = list[odata_batch.HttpMessage | list[odata_batch.HttpMessage]]


def _error(msg: odata_batch.HttpMessage) -> str:
    try:
        return str(msg.json()["error"]["message"])[:500]
    except Exception:  # noqa: BLE001
        return f"HTTP {msg.status}"


class DynamicsClient(CrmClient):
    """Dataverse Web API client. One instance may be used from several threads (session per thread)."""

    flavor = "dynamics"
    epoch = "1900-01-01T00:00:00Z"
    page_size = 5000
    _msal: Any = None  # the msal application, built on first use (see open)
    _metadata: DataverseMetadata | None = None  # the org's table definitions, read once (see open)

    @property
    def api(self) -> str:
        return f"{self.base_url}/api/data/{crm_names.API_VERSION_DYNAMICS}/"

    # -- naming ----------------------------------------------------------------------------------

    def kore_keys(self, crm_name: str) -> tuple[str, str]:
        return crm_names.dyn_id_field(crm_name), crm_names.DYN_EXT_KEY

    def kore_fields(self, key: str, name: Any) -> dict[str, Any]:
        return {crm_names.DYN_NAME: name}  # the key is in the upsert's URL

    def attribute_field(self, column: str) -> str:
        return crm_names.dyn_attribute(column)

    def lookup_field(self, lookup: crm_names.Lookup, value: str) -> tuple[str, Any]:
        return crm_names.dyn_lookup(lookup.target) + "@odata.bind", self.bind_path(lookup.target, value)

    def account_link(self, account_key: str) -> tuple[str, Any]:
        return "parentcustomerid_account@odata.bind", self.bind_path("Account", account_key)

    def bind_path(self, target: str, key: str) -> str:
        """``/<entityset>(<key>)`` of ``target``'s record (registry entity) with KORE key or CRM id
        ``key``: by the KORE alternate key for KORE-owned entities and accounts/contacts, else by id."""
        ent = crm_names.by_name(target)
        entity_set = self.entity_set(ent.dynamics_entity)
        if ent.direction == "kore_to_crm":
            return f"/{entity_set}({crm_names.DYN_EXT_KEY}={crm_names.odata_quote(key)})"
        if target in crm_names.REFERENCES_BY_EXTERNAL_KEY:
            ext = crm_names.field_spec(target).external_key_field(self.flavor)
            return f"/{entity_set}({ext}={crm_names.odata_quote(key)})"
        return f"/{entity_set}({key})"

    def entity_set(self, logical_name: str) -> str:
        """The table's entity-set name as the org's metadata gives it. Before :meth:`open` (the
        push's dry run sends nothing) it is the usual English plural, marked as a guess nowhere
        else: nothing is sent with it."""
        if self._metadata is None:
            return crm_names.entity_set(logical_name)
        return self._metadata.entity_set(logical_name)

    def fields_of(self, crm_name: str) -> set[str] | None:
        """The table's attribute logical names per the org's metadata (None: no such table)."""
        return self.metadata.fields_of(crm_name)

    @property
    def metadata(self) -> DataverseMetadata:
        if self._metadata is None:
            self._metadata = DataverseMetadata(self.api, self.request)
        return self._metadata

    # -- connection ------------------------------------------------------------------------------

    def open(self) -> None:
        """Build the msal application now (it discovers the tenant's token endpoint over HTTP) and
        read the org's table definitions, so a wrong URL or credential fails before any write."""
        self._app()
        self.metadata.load()

    def _app(self) -> Any:
        import msal

        with self._token_lock:
            if self._msal is None:
                c = self.credentials
                missing = [k for k in ("client_id", "client_secret") if not c.get(k)]
                if not (c.get("authority") or c.get("tenant_id")):
                    missing.append("tenant_id or authority")
                if missing:
                    raise CrmClientError(
                        f"Dynamics credentials missing: {', '.join(missing)} "
                        "(KORE_CRM_CLIENT_ID, KORE_CRM_CLIENT_SECRET, KORE_CRM_TENANT or KORE_CRM_AUTHORITY)"
                    )
                self._msal = msal.ConfidentialClientApplication(
                    c["client_id"],
                    client_credential=c["client_secret"],
                    authority=c.get("authority") or f"{LOGIN_AUTHORITY}/{c['tenant_id']}",
                    validate_authority=False,
                    instance_discovery=False,
                    http_client=make_session(c.get("ca_bundle"), self.timeout),
                )
            return self._msal

    def token(self) -> str:
        app = self._app()
        with self._token_lock:  # msal caches the token until shortly before it expires
            scope = self.credentials.get("scope") or f"{self.base_url}/.default"
            result = app.acquire_token_for_client(scopes=[scope])
        if "access_token" not in result:
            raise CrmClientError(f"Dynamics token request failed: {result.get('error')}")
        return result["access_token"]

    def refresh_token(self) -> None:
        """Forget the cached token (the CRM refused it), so the next request gets a new one."""
        app = self._app()
        with self._token_lock:
            app.remove_tokens_for_client()

    def request(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        """One request through the retrying session; a 401 gets one new token and one more try
        (outside the transport's retry loop, which never retries a 401)."""
        resp = self.session.request(method, url, **kwargs)
        if resp.status_code == 401:
            self.refresh_token()
            resp = self.session.request(method, url, **kwargs)
        return resp

    @property
    def session(self) -> requests.Session:
        s = getattr(self._local, "session", None)
        if s is None:
            s = make_session(self.credentials.get("ca_bundle"), self.timeout)
            self._local.session = s
        s.headers.update(
            {
                "Authorization": f"Bearer {self.token()}",
                "OData-MaxVersion": "4.0",
                "OData-Version": "4.0",
                "Accept": "application/json",
            }
        )
        return s

    # -- reading ---------------------------------------------------------------------------------

    def iter_pages(
        self, crm_name: str, fields: list[str], id_field: str, modified_field: str, since: str, page_size: int
    ) -> Iterator[list[dict[str, Any]]]:
        entity_set = self.entity_set(crm_name)
        params = {"$select": ",".join(fields), "$orderby": f"{modified_field} asc"}
        if since:
            params["$filter"] = f"{modified_field} ge {since}"
        url: str | None = self.api + entity_set
        headers = {"Prefer": f"odata.maxpagesize={page_size}"}
        first = True
        while url:
            resp = self.request("GET", url, params=params if first else None, headers=headers)
            raise_for(resp, f"GET {entity_set}")
            data = resp.json()
            yield data.get("value", [])
            url, first = data.get("@odata.nextLink"), False

    # -- writing ---------------------------------------------------------------------------------

    def batch(self, items: Batch, continue_on_error: bool = True) -> Batch:
        """Send one ``$batch``; returns the responses in the same shape (a list per change set).

        A change set that failed answers with one response (the failing request's), as Dataverse does.
        """
        ctype, body = odata_batch.build(items)
        headers = {"Content-Type": ctype}
        if continue_on_error:
            headers["Prefer"] = "odata.continue-on-error"
        resp = self.request("POST", self.api + "$batch", data=body, headers=headers)
        raise_for(resp, "$batch")
        out: Batch = []
        for p in odata_batch.parse_multipart(resp.headers.get("Content-Type", ""), resp.content):
            out.append([odata_batch.parse_http(c) for c in p.children] if p.is_multipart else odata_batch.parse_http(p))
        return out

    def upsert_message(
        self,
        entity_set: str,
        key_field: str | None,
        key: str,
        body: dict[str, Any],
        id_field: str,
        content_id: str,
        update_only: bool = False,
    ) -> odata_batch.HttpMessage:
        """One PATCH upsert by alternate key (or by id when ``key_field`` is None) for a batch."""
        keypart = f"{key_field}={crm_names.odata_quote(key)}" if key_field else key
        url = f"{self.api}{entity_set}({quote(keypart, safe=chr(39) + '=')})?$select={id_field}"
        headers = {"Content-Type": "application/json", "Prefer": "return=representation"}
        if update_only:
            headers["If-Match"] = "*"
        return odata_batch.HttpMessage(
            method="PATCH", url=url, headers=headers, body=json.dumps(body, default=str).encode(), content_id=content_id
        )

    def upsert(self, target: Target, rows: list[R], progress: Progress | None = None) -> Upserted:
        """Upsert rows through ``$batch`` (change sets; failed change sets re-sent request by request)."""
        batch = _TargetBatch(self, target)

        def one(part: list[R]) -> Upserted:
            out = batch.send(part)
            if progress:
                progress(len(part))
            return out

        return run_parallel(one, list(chunks(rows, BATCH_SIZE)))


class _TargetBatch:
    """Sends one entity's rows as ``$batch`` requests and reads the answers back into outcomes."""

    def __init__(self, client: DynamicsClient, target: Target):
        self.client = client
        self.target = target
        self.entity_set = client.entity_set(target.crm_name)

    def message(self, i: int, r: R) -> odata_batch.HttpMessage:
        t = self.target
        if r.crm_id:  # a preexisting record: update it by id, never create
            return self.client.upsert_message(
                self.entity_set, None, r.crm_id, r.body, t.id_field, str(i), update_only=True
            )
        return self.client.upsert_message(self.entity_set, t.ext_field, r.key, r.body, t.id_field, str(i))

    def read(self, resp: odata_batch.HttpMessage) -> Outcome:
        if resp.status in (200, 201, 204):
            data = resp.json() or {}
            entity_id = resp.headers.get("odata-entityid", "").rsplit("(", 1)[-1].rstrip(")")
            return Outcome("synced", data.get(self.target.id_field) or entity_id, None, resp.status == 201)
        return Outcome("failed", None, _error(resp))

    def send(self, rows: list[R]) -> Upserted:
        """One ``$batch`` of change sets; the requests of a rolled-back change set are re-sent alone."""
        items: Batch = [
            [self.message(k * CHANGESET_SIZE + j, r) for j, r in enumerate(cs)]
            for k, cs in enumerate(chunks(rows, CHANGESET_SIZE))
        ]
        by_cid = {str(i): r for i, r in enumerate(rows)}
        try:
            responses = self.client.batch(items)
        except (CrmClientError, OSError, ValueError) as exc:
            return failed_all(rows, f"batch failed: {exc}", 1)
        out = Upserted(requests=1)
        retry: list[tuple[str, R]] = []
        for sent, resp in zip(items, responses, strict=False):
            if isinstance(resp, list):
                for resp_one in resp:
                    out.outcomes[by_cid[resp_one.content_id or ""].key] = self.read(resp_one)
            else:  # the change set rolled back: its failing request is known, the rest is re-sent alone
                for m in sent if isinstance(sent, list) else [sent]:
                    r = by_cid[m.content_id or ""]
                    if m.content_id == resp.content_id:
                        out.outcomes[r.key] = self.read(resp)
                    else:
                        retry.append((m.content_id or "", r))
        if retry:
            out.merge(self.send_alone(retry, by_cid))
        for r in rows:  # a request the CRM did not answer counts as failed (retried next run)
            out.outcomes.setdefault(r.key, Outcome("failed", None, "no response for this request in the batch"))
        return out

    def send_alone(self, retry: list[tuple[str, R]], by_cid: dict[str, R]) -> Upserted:
        """Re-send requests one per change set (one ``$batch``), each failing or succeeding alone."""
        singles: Batch = [self.message(int(cid), r) for cid, r in retry]
        out = Upserted(requests=1)
        try:
            for resp in self.client.batch(singles, continue_on_error=True):
                if isinstance(resp, odata_batch.HttpMessage):
                    out.outcomes[by_cid[resp.content_id or ""].key] = self.read(resp)
        except (CrmClientError, OSError, ValueError) as exc:
            return failed_all([r for _, r in retry], f"batch failed: {exc}", 1)
        return out
