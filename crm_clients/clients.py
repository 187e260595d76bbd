"""HTTP clients for the two CRM flavours: authentication, paging, batched upserts, retries.

Why one shared HTTP session design: both CRMs throttle (429 + ``Retry-After``) and fail
transiently (5xx, slow responses). urllib3's ``Retry`` honours ``Retry-After`` and backs off, for
every method, because every write here is an upsert by key and therefore safe to repeat: a
timed-out request that did reach the CRM is simply applied again, never duplicated.

- Dynamics: msal ``ConfidentialClientApplication`` (client credentials) for the token, requests for
  the Web API (``@odata.nextLink`` paging, ``$batch`` with change sets).
- Salesforce: OAuth client credentials (or username + password + security token) for the token,
  simple-salesforce for SOQL paging and REST calls (sObject Collections upsert).

``credentials`` (from env vars / dlt secrets in production; ``CrmSandbox.credentials`` in tests):
Dynamics ``tenant_id, client_id, client_secret`` [+ ``authority`` (default ``<base_url>/<tenant>``,
in production ``https://login.microsoftonline.com/<tenant>``), ``scope``, ``ca_bundle``];
Salesforce ``client_id, client_secret`` [+ ``grant_type="password"`` with ``username, password,
security_token``; ``token_url``; ``ca_bundle``]. ``KORE_CRM_TIMEOUT`` sets the per-request timeout
in seconds (default 30).
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from kore.contracts import crm_names, odata_batch

DEFAULT_TIMEOUT = float(os.environ.get("KORE_CRM_TIMEOUT", "30"))  # seconds per request (tests shorten it)


def _default_timeout() -> float:
    return float(os.environ.get("KORE_CRM_TIMEOUT", DEFAULT_TIMEOUT))


class CrmClientError(RuntimeError):
    """A request the CRM refused as a whole (after retries): every row in it failed with this error."""


class _Session(requests.Session):
    """A session whose ``verify`` wins over ``REQUESTS_CA_BUNDLE`` (requests lets the env override it)."""

    def __init__(self, timeout: float):
        super().__init__()
        self._timeout = timeout

    def merge_environment_settings(self, url, proxies, stream, verify, cert):  # type: ignore[override]
        settings = super().merge_environment_settings(url, proxies, stream, verify, cert)
        if verify is None and self.verify not in (True, None):
            settings["verify"] = self.verify
        return settings

    def request(self, method, url, **kwargs):  # type: ignore[override]
        kwargs.setdefault("timeout", self._timeout)
        return super().request(method, url, **kwargs)


def make_session(
    ca_bundle: str | None = None, timeout: float = DEFAULT_TIMEOUT, retries: int = 6, backoff: float = 0.1
) -> requests.Session:
    """A requests session that retries 429/5xx/timeouts (honouring Retry-After) for every method."""
    s = _Session(timeout)
    if ca_bundle:
        s.verify = ca_bundle
    retry = Retry(
        total=retries,
        connect=3,
        read=retries,
        status=retries,
        other=0,
        backoff_factor=backoff,
        backoff_max=4,
        status_forcelist=(429, 500, 502, 503, 504),
        allowed_methods=None,  # every method: all writes are idempotent upserts
        respect_retry_after_header=True,
        raise_on_status=False,
    )
    adapter = HTTPAdapter(max_retries=retry, pool_connections=4, pool_maxsize=8)
    s.mount("https://", adapter)
    s.mount("http://", adapter)
    return s


def _raise_for(resp: requests.Response, what: str) -> None:
    if resp.status_code >= 300:
        raise CrmClientError(f"{what}: HTTP {resp.status_code}: {resp.text[:300]}")


# -- Dynamics ------------------------------------------------------------------------------------


class DynamicsClient:
    """Dataverse Web API client. One instance may be used from several threads (session per thread)."""

    def __init__(self, base_url: str, credentials: dict[str, str], timeout: float | None = None):
        import msal

        self.base_url = base_url.rstrip("/")
        self.api = f"{self.base_url}/api/data/{crm_names.API_VERSION_DYNAMICS}/"
        self.credentials = credentials
        self.timeout = timeout or _default_timeout()
        self._local = threading.local()
        auth_session = make_session(credentials.get("ca_bundle"), self.timeout)
        authority = credentials.get("authority") or f"{self.base_url}/{credentials['tenant_id']}"
        self._msal = msal.ConfidentialClientApplication(
            credentials["client_id"],
            client_credential=credentials["client_secret"],
            authority=authority,
            validate_authority=False,
            instance_discovery=False,
            http_client=auth_session,
        )
        self._scope = [credentials.get("scope") or f"{self.base_url}/.default"]
        self._token_lock = threading.Lock()

    def token(self) -> str:
        with self._token_lock:  # msal caches the token until shortly before it expires
            result = self._msal.acquire_token_for_client(scopes=self._scope)
        if "access_token" not in result:
            raise CrmClientError(f"Dynamics token request failed: {result.get('error')}")
        return result["access_token"]

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

    def iter_pages(
        self, entity_set: str, select: list[str], modified_field: str, since: str | None, page_size: int = 5000
    ) -> Iterator[list[dict[str, Any]]]:
        """Rows changed at/after ``since`` in (modifiedon, id) order, one list per page."""
        params = {"$select": ",".join(select), "$orderby": f"{modified_field} asc"}
        if since:
            params["$filter"] = f"{modified_field} ge {since}"
        url: str | None = self.api + entity_set
        headers = {"Prefer": f"odata.maxpagesize={page_size}"}
        first = True
        while url:
            resp = self.session.get(url, params=params if first else None, headers=headers)
            _raise_for(resp, f"GET {entity_set}")
            data = resp.json()
            yield data.get("value", [])
            url, first = data.get("@odata.nextLink"), False

    def batch(
        self, items: list[odata_batch.HttpMessage | list[odata_batch.HttpMessage]], continue_on_error: bool = True
    ) -> list[odata_batch.HttpMessage | list[odata_batch.HttpMessage]]:
        """Send one ``$batch``; returns the responses in the same shape (a list per change set).

        A change set that failed answers with one response (the failing request's), as Dataverse does.
        """
        ctype, body = odata_batch.build(items)
        headers = {"Content-Type": ctype}
        if continue_on_error:
            headers["Prefer"] = "odata.continue-on-error"
        resp = self.session.post(self.api + "$batch", data=body, headers=headers)
        _raise_for(resp, "$batch")
        out: list[odata_batch.HttpMessage | list[odata_batch.HttpMessage]] = []
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


# -- Salesforce ----------------------------------------------------------------------------------


class SalesforceClient:
    """Salesforce REST client on simple-salesforce. Thread-safe (one Salesforce object per thread)."""

    def __init__(self, base_url: str, credentials: dict[str, str], timeout: float | None = None):
        self.base_url = base_url.rstrip("/")
        self.credentials = credentials
        self.timeout = timeout or _default_timeout()
        self._local = threading.local()
        self._token_lock = threading.Lock()
        self._token: tuple[str, str] | None = None

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
                _raise_for(resp, "Salesforce token")
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

    def iter_pages(self, soql: str, page_size: int = 2000) -> Iterator[list[dict[str, Any]]]:
        headers = {"Sforce-Query-Options": f"batchSize={page_size}"}
        res = self.sf.query(soql, headers=headers)
        while True:
            yield res.get("records", [])
            if res.get("done", True) or not res.get("nextRecordsUrl"):
                break
            res = self.sf.query_more(res["nextRecordsUrl"], identifier_is_url=True, headers=headers)

    def upsert_collection(
        self, sobject: str, ext_field: str, records: list[dict[str, Any]], all_or_none: bool = False
    ) -> list[dict[str, Any]]:
        """sObject Collections upsert (≤ 200 records) → one result per record, in order."""
        from simple_salesforce.exceptions import SalesforceError

        if len(records) > 200:
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
