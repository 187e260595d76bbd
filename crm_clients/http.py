"""The HTTP session both CRM clients use: a per-request timeout and retries for every method.

Why one shared session design: both CRMs throttle (429 + ``Retry-After``) and fail transiently
(5xx, slow responses). urllib3's ``Retry`` honours ``Retry-After`` and backs off, for every method,
because every write here is an upsert by key and therefore safe to repeat: a timed-out request that
did reach the CRM is simply applied again, never duplicated.
"""

from __future__ import annotations

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

DEFAULT_TIMEOUT = 30.0  # seconds per request, the default of ``Settings.crm_timeout``


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


def raise_for(resp: requests.Response, what: str) -> None:
    """Raise :class:`CrmClientError` for an answer that is not a success (after the retries)."""
    if resp.status_code >= 300:
        raise CrmClientError(f"{what}: HTTP {resp.status_code}: {resp.text[:300]}")
