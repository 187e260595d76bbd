"""HTTP client of the Archtics changes API (the transport of the delta landing).

Why it is built this way: the catch-up after an export is hundreds of pages, and a long run meets
every kind of transient failure, so each request is retried until it succeeds or ``max_attempts``
is reached:

* OAuth client-credentials token, fetched lazily, refreshed before expiry and on a 401;
* 429 and 5xx retried with exponential backoff, honouring ``Retry-After`` (capped);
* dropped connections, timeouts and truncated bodies (invalid JSON) retried (tenacity).

Secrets are held only in memory and never logged; ``stats`` counts requests, retries and token
fetches for the run record.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import requests
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt


class Retryable(Exception):
    """A response worth retrying (429, 5xx, 401 with a stale token)."""

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


@dataclass
class ArchticsClient:
    """Minimal client of the Archtics changes API: token handling, paging, retries."""

    base_url: str
    client_id: str
    client_secret: str
    timeout: float = 60.0
    max_attempts: int = 10
    backoff_base: float = 0.25
    backoff_max: float = 20.0
    stats: dict[str, int] = field(default_factory=lambda: {"requests": 0, "retries": 0, "token_fetches": 0})

    def __post_init__(self) -> None:
        self.base_url = self.base_url.rstrip("/")
        self.session = requests.Session()
        self._token: str | None = None
        self._token_expires = 0.0

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, Retryable) and exc.retry_after is not None:
            return min(exc.retry_after, self.backoff_max)
        return min(self.backoff_base * 2 ** (state.attempt_number - 1), self.backoff_max)

    def _retrying(self) -> Retrying:
        def count(_: RetryCallState) -> None:
            self.stats["retries"] += 1

        return Retrying(
            retry=retry_if_exception_type(
                (
                    Retryable,
                    requests.ConnectionError,
                    requests.Timeout,
                    requests.exceptions.ChunkedEncodingError,
                    ValueError,
                )  # fmt: skip
            ),
            wait=self._wait,
            stop=stop_after_attempt(self.max_attempts),
            before_sleep=count,
            reraise=True,
        )

    def token(self) -> str:
        if self._token and time.monotonic() < self._token_expires - 30:
            return self._token
        for attempt in self._retrying():
            with attempt:
                self.stats["token_fetches"] += 1
                r = self.session.post(
                    f"{self.base_url}/oauth/token",
                    data={
                        "grant_type": "client_credentials",
                        "client_id": self.client_id,
                        "client_secret": self.client_secret,
                    },  # fmt: skip
                    timeout=self.timeout,
                )
                self._check(r)
                doc = r.json()
                self._token = doc["access_token"]
                self._token_expires = time.monotonic() + float(doc.get("expires_in", 3600))
        assert self._token
        return self._token

    @staticmethod
    def _check(r: requests.Response) -> None:
        if r.status_code == 429 or r.status_code >= 500:
            raise Retryable(f"HTTP {r.status_code}", _retry_after(r.headers.get("Retry-After")))
        r.raise_for_status()

    def get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        for attempt in self._retrying():
            with attempt:
                self.stats["requests"] += 1
                r = self.session.get(
                    f"{self.base_url}{path}",
                    params=params,
                    headers={"Authorization": f"Bearer {self.token()}"},
                    timeout=self.timeout,
                )
                if r.status_code == 401:
                    self._token = None  # expired or revoked: fetch a new one and retry
                    raise Retryable("HTTP 401 (token refreshed)")
                self._check(r)
                return r.json()  # a truncated body raises ValueError and is retried
        raise AssertionError("unreachable")

    def datasets(self) -> dict[str, Any]:
        doc = self.get("/v1/datasets")
        items = doc.get("datasets", doc) if isinstance(doc, dict) else doc
        if isinstance(items, dict):
            return items
        return {d["name"] if isinstance(d, dict) else d: d for d in items}

    def changes(self, dataset: str, since: str, page_size: int) -> Iterator[list[dict[str, Any]]]:
        """Pages of changed rows (change time >= since), in (change time, business key) order."""
        token: str | None = None
        while True:
            params: dict[str, Any] = {"since": since, "page_size": page_size}
            if token:
                params["page_token"] = token
            doc = self.get(f"/v1/datasets/{dataset}/changes", params)
            yield doc.get("rows") or []
            token = doc.get("next_page_token")
            if not token:
                return
