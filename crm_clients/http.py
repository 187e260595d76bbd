"""The one HTTP retry policy of every client (both CRMs and the Archtics changes API), and the CRM session.

Why one policy with deadlines: remote APIs throttle (429 + ``Retry-After``) and fail transiently
(5xx, dropped connections, slow replies), so a request is retried with backoff; but an operator must
never wait unboundedly. :class:`RetryPolicy` (tenacity) bounds every call by attempts *and* a total
deadline (each attempt's timeout is cut to the time left), bounds a whole run's time spent failing
and waiting (``run_deadline``: a healthy long catch-up is not cut, a degraded one is), and gives up
at once where retrying cannot help (connection refused: nothing listens there; a host name the DNS
says does not exist: a typo in a URL or an authority). When it gives up it
says what, where (the URL without query values, which may hold people's data), how many attempts,
how long, and the last status: :class:`HttpGiveUp`.

Every method is retried: every write here is an upsert by key and therefore safe to repeat (a
timed-out request that did reach the CRM is applied again, never duplicated). Token refreshes are
the caller's, outside this loop (a 401 is not retried here).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar
from urllib.parse import unquote, urlsplit, urlunsplit

import requests
import requests.adapters
from tenacity import RetryCallState, Retrying, retry_if_exception

DEFAULT_TIMEOUT = 30.0  # seconds per request, the default of ``Settings.crm_timeout``
DEFAULT_CALL_DEADLINE = 120.0  # seconds per call, all attempts and waits (``Settings.http_call_deadline``)
DEFAULT_RUN_DEADLINE = 600.0  # seconds of failing and waiting per run (``Settings.http_run_deadline``)
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})

T = TypeVar("T")


class CrmClientError(RuntimeError):
    """A request the CRM refused as a whole (after retries): every row in it failed with this error."""


class HttpGiveUp(CrmClientError):
    """A call the retry policy gave up on: names the URL, the attempts, the time and the last status."""

    def __init__(self, message: str, attempts: int, status: int | None):
        super().__init__(message)
        self.attempts = attempts
        self.status = status


class Retryable(Exception):
    """A reply worth retrying (429, 5xx); ``retry_after`` from its header, in seconds."""

    def __init__(self, status: int, retry_after: float | None = None, response: Any = None):
        super().__init__(f"HTTP {status}")
        self.status = status
        self.retry_after = retry_after
        self.response = response


def retry_after(value: str | None) -> float | None:
    """A ``Retry-After`` header in seconds (None when absent or an HTTP date)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def safe_url(url: str, params: dict[str, Any] | None = None) -> str:
    """The URL for a message: scheme, host, path and the query's parameter names, never its values."""
    parts = urlsplit(url)
    names = [p.split("=", 1)[0] for p in parts.query.split("&") if p] + list(params or {})
    query = "&".join(f"{unquote(n)}=…" for n in dict.fromkeys(names))
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))


def unreachable(exc: BaseException) -> str | None:
    """Why ``exc`` (or what it wraps: requests → urllib3 → socket) can never succeed on a retry:
    "connection refused" (nothing listens there) or "host name not found" (the DNS answered that the
    name does not exist; a temporary DNS failure, EAI_AGAIN, is retried). None otherwise."""
    seen: set[int] = set()
    todo: list[Any] = [exc]
    while todo:
        e = todo.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        if isinstance(e, ConnectionRefusedError):
            return "connection refused"
        if isinstance(e, socket.gaierror) and e.errno == socket.EAI_NONAME:
            return "host name not found"
        if isinstance(e, BaseException):
            todo += [
                e.__cause__,
                e.__context__,
                getattr(e, "reason", None),
                *[a for a in e.args if isinstance(a, BaseException)],
            ]
    return None


def cannot_connect(exc: BaseException) -> bool:
    """True when ``exc`` is a transport failure no retry can mend (see :func:`unreachable`)."""
    return isinstance(exc, requests.ConnectionError) and unreachable(exc) is not None


def _retryable(exc: BaseException) -> bool:
    if isinstance(exc, Retryable):
        return True
    if cannot_connect(exc):
        return False  # nothing listens there, or no such host: retrying only delays the error
    return isinstance(
        exc, requests.ConnectionError | requests.Timeout | requests.exceptions.ChunkedEncodingError | ValueError
    )


@dataclass
class RunBudget:
    """The seconds one run may spend in failed attempts and waits (shared by its policies/threads)."""

    deadline: float = DEFAULT_RUN_DEADLINE
    spent: float = 0.0
    retries: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def charge(self, seconds: float, retry: bool = False) -> None:
        with self._lock:
            self.spent += seconds
            self.retries += int(retry)

    @property
    def exhausted(self) -> bool:
        return self.spent >= self.deadline


@dataclass
class RetryPolicy:
    """Attempts, backoff and deadlines of a run's calls (thread-safe; copies share the ``budget``)."""

    timeout: float = DEFAULT_TIMEOUT  # per attempt (cut to the call's time left)
    call_deadline: float = DEFAULT_CALL_DEADLINE
    max_attempts: int = 10
    backoff_base: float = 0.25
    backoff_max: float = 20.0
    budget: RunBudget = field(default_factory=RunBudget)

    @classmethod
    def with_deadlines(cls, call_deadline: float, run_deadline: float, **kw: Any) -> RetryPolicy:
        return cls(call_deadline=call_deadline, budget=RunBudget(run_deadline), **kw)

    def call(self, attempt: Callable[[float], T], method: str, url: str, params: dict[str, Any] | None = None) -> T:
        """``attempt(timeout)`` until it returns, retrying what :func:`_retryable` says within the
        attempts and deadlines; raises :class:`HttpGiveUp` (or a non-retryable error) otherwise."""
        t0 = time.monotonic()
        last = {"t": t0}

        def left() -> float:
            return self.call_deadline - (time.monotonic() - t0)

        def wait(state: RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome else None
            ra = exc.retry_after if isinstance(exc, Retryable) else None
            w = ra if ra is not None else self.backoff_base * 2 ** (state.attempt_number - 1)
            return max(0.0, min(w, self.backoff_max, left()))

        def stop(state: RetryCallState) -> bool:
            now = time.monotonic()
            self.budget.charge(now - last["t"])  # a failed attempt counts against the run's budget
            last["t"] = now
            return state.attempt_number >= self.max_attempts or left() <= 0.05 or self.budget.exhausted

        def after_wait(state: RetryCallState) -> None:
            self.budget.charge(state.upcoming_sleep or 0.0, retry=True)
            last["t"] = time.monotonic() + (state.upcoming_sleep or 0.0)

        retrying = Retrying(
            retry=retry_if_exception(_retryable), wait=wait, stop=stop, before_sleep=after_wait, reraise=True
        )
        try:
            for att in retrying:
                with att:
                    return attempt(max(0.5, min(self.timeout, left())))
        except Exception as exc:
            n = retrying.statistics.get("attempt_number", 1)
            err = self._give_up(exc, method, url, params, n, time.monotonic() - t0)
            if err is exc:
                raise
            raise err from exc
        raise AssertionError("unreachable")

    def _give_up(
        self, exc: Exception, method: str, url: str, params: dict[str, Any] | None, attempts: int, seconds: float
    ) -> Exception:
        if not _retryable(exc) and not cannot_connect(exc):
            return exc  # not a transport failure (e.g. a 4xx the caller raised): the caller's error stands
        status = exc.status if isinstance(exc, Retryable) else None
        if cannot_connect(exc):
            last = str(unreachable(exc))
        elif status is not None:
            last = f"last status HTTP {status}"
        else:
            last = f"last error {type(exc).__name__}"
        why = (
            "run deadline reached"
            if self.budget.exhausted
            else "call deadline reached"
            if seconds >= self.call_deadline - 0.05
            else ""
        )
        msg = (
            f"{method} {safe_url(url, params)}: gave up after {attempts} attempt{'s' * (attempts != 1)} "
            f"in {seconds:.1f} s ({last}{'; ' + why if why else ''})"
        )
        return HttpGiveUp(msg, attempts, status)


class _Session(requests.Session):
    """Every request under the run's :class:`RetryPolicy`; ``verify`` wins over ``REQUESTS_CA_BUNDLE``."""

    def __init__(self, policy: RetryPolicy):
        super().__init__()
        self.policy = policy

    def merge_environment_settings(self, url, proxies, stream, verify, cert):  # type: ignore[override]
        settings = super().merge_environment_settings(url, proxies, stream, verify, cert)
        if verify is None and self.verify not in (True, None):
            settings["verify"] = self.verify
        return settings

    def request(self, method, url, **kwargs):  # type: ignore[override]
        asked = kwargs.pop("timeout", None)

        def attempt(timeout: float) -> requests.Response:
            t = timeout if asked is None else min(timeout, float(asked) if not isinstance(asked, tuple) else timeout)
            resp = super(_Session, self).request(method, url, timeout=t, **kwargs)
            if resp.status_code in RETRY_STATUSES:
                raise Retryable(resp.status_code, retry_after(resp.headers.get("Retry-After")), resp)
            return resp

        return self.policy.call(attempt, str(method).upper(), url, kwargs.get("params"))


_default = {"policy": RetryPolicy()}


def set_run_policy(policy: RetryPolicy) -> RetryPolicy:
    """Make ``policy`` the one the CRM sessions of this process share (a stage sets it from its
    settings at start, so every session of the run draws on one run deadline)."""
    _default["policy"] = policy
    return policy


def run_policy() -> RetryPolicy:
    return _default["policy"]


def make_session(
    ca_bundle: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    retries: int | None = None,
    backoff: float | None = None,
    policy: RetryPolicy | None = None,
) -> requests.Session:
    """A requests session whose every request runs under ``policy`` (default: the run's, see
    :func:`set_run_policy`) with ``timeout`` per attempt; ``retries``/``backoff`` override its
    attempts and backoff base. Every copy draws on the same run budget."""
    changes: dict[str, Any] = {"timeout": timeout}
    if retries is not None:
        changes["max_attempts"] = retries + 1
    if backoff is not None:
        changes["backoff_base"] = backoff
    s = _Session(replace(policy or run_policy(), **changes))
    if ca_bundle:
        s.verify = ca_bundle
    adapter = requests.adapters.HTTPAdapter(max_retries=0, pool_connections=4, pool_maxsize=8)
    s.mount("https://", adapter)
    s.mount("http://", adapter)
    return s


def raise_for(resp: requests.Response, what: str) -> None:
    """Raise :class:`CrmClientError` for an answer that is not a success, naming the URL (no query
    values) and the status."""
    if resp.status_code >= 300:
        where = safe_url(resp.url) if getattr(resp, "url", None) else ""
        raise CrmClientError(f"{what}: HTTP {resp.status_code} from {where}: {resp.text[:300]}")
