"""The one HTTP retry policy (crm_clients.http) and the Archtics client over real loopback HTTP.

Each misbehaving API is a tiny real server on 127.0.0.1 (the sandbox API does not misbehave in these
ways on purpose): connection refused, a host that accepts but never answers, persistent 500s, a
paging loop, replies of the wrong shape, a stale token.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from crm_clients.http import HttpGiveUp, RetryPolicy, RunBudget, make_session
from dlt_pipelines.archtics_api_client import ArchticsClient, ReplyError

SECRET = "s3cret-value"
FAST = {"backoff_base": 0.01, "backoff_max": 0.05}
Route = Callable[[str, dict[str, Any]], tuple[int, Any]]


@contextmanager
def server(route: Route) -> Iterator[tuple[str, list[str]]]:
    """A loopback server answering ``route(path, state) -> (status, json body)``; yields its URL and
    the request log."""
    log: list[str] = []
    state: dict[str, Any] = {}

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            log.append(f"{self.command} {self.path}")
            if self.command == "POST":
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.path.startswith("/oauth/token"):
                status, body = 200, {"access_token": f"tok{len(log)}", "expires_in": 3600}
            else:
                status, body = route(self.path, state)
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = _answer

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", log
    finally:
        httpd.shutdown()
        httpd.server_close()


def _client(url: str, **kw: Any) -> ArchticsClient:
    return ArchticsClient(url, "cid", SECRET, **{**FAST, **kw})


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_connection_refused_fails_at_once_with_one_token_try():
    client = _client(f"http://127.0.0.1:{_free_port()}", call_deadline=3.0, run_deadline=3.0)
    t0 = time.monotonic()
    with pytest.raises(HttpGiveUp) as err:
        client.datasets()
    assert time.monotonic() - t0 < 3.0
    msg = str(err.value)
    assert "connection refused" in msg and "/oauth/token" in msg and "1 attempt" in msg
    assert client.stats["token_fetches"] == 1 and SECRET not in msg


def test_a_host_name_that_does_not_exist_fails_at_once():
    """A typo in a URL or an authority: the DNS says the name does not exist (``.invalid`` never
    resolves, RFC 2606), so retrying cannot help and the error says so after one attempt."""
    client = _client("http://no-such-host.invalid", call_deadline=30.0, run_deadline=30.0)
    with pytest.raises(HttpGiveUp) as err:
        client.datasets()
    msg = str(err.value)
    assert "host name not found" in msg and "1 attempt" in msg, msg
    assert client.stats["token_fetches"] == 1


def test_a_host_that_never_answers_ends_within_the_call_deadline():
    with socket.socket() as blackhole:  # accepts connections, never replies
        blackhole.bind(("127.0.0.1", 0))
        blackhole.listen(16)
        client = _client(f"http://127.0.0.1:{blackhole.getsockname()[1]}", timeout=60.0, call_deadline=3.0)
        t0 = time.monotonic()
        with pytest.raises(HttpGiveUp) as err:
            client.token()
        took = time.monotonic() - t0
    assert took < 5.0, took  # the deadline (3 s) cuts the 60 s request timeout
    assert "call deadline reached" in str(err.value) and "ReadTimeout" in str(err.value)


def test_the_run_deadline_bounds_the_calls_of_a_run_together():
    with server(lambda path, st: (503, {"error": "busy"})) as (url, _):
        client = _client(url, call_deadline=30.0, run_deadline=1.0, max_attempts=1000, backoff_max=0.2)
        client._token, client._token_expires = "t", time.monotonic() + 3600
        t0 = time.monotonic()
        with pytest.raises(HttpGiveUp, match="run deadline reached"):
            client.get("/v1/datasets")
        with pytest.raises(HttpGiveUp, match="run deadline reached"):  # the budget is spent: the next call stops early
            client.get("/v1/datasets")
        assert time.monotonic() - t0 < 3.0


def test_persistent_500_names_url_attempts_and_status_but_no_query_values():
    with server(lambda path, st: (500, {"error": "boom"})) as (url, log):
        client = _client(url, max_attempts=4)
        with pytest.raises(HttpGiveUp) as err:
            list(client.changes("cust", "2026-10-01T00:00:00jane@example.org", 100))
    msg = str(err.value)
    assert f"GET {url}/v1/datasets/cust/changes?since=…&page_size=…" in msg
    assert "gave up after 4 attempts" in msg and "last status HTTP 500" in msg
    assert "jane@example.org" not in msg and "2026-10-01" not in msg and SECRET not in msg
    assert err.value.attempts == 4 and err.value.status == 500
    assert sum(1 for x in log if x.startswith("GET /v1/datasets/cust/changes")) == 4


def test_a_repeated_page_token_is_refused():
    def route(path: str, st: dict) -> tuple[int, Any]:
        return 200, {"rows": [{"acct_id": 1}], "next_page_token": "again"}

    with server(route) as (url, log):
        pages = _client(url).changes("cust", "2026-01-01", 10)
        with pytest.raises(ReplyError, match="repeats an earlier next_page_token"):
            for _ in range(100):
                next(pages)
    assert sum(1 for x in log if "/changes" in x) == 2


def test_endless_empty_pages_are_refused():
    def route(path: str, st: dict) -> tuple[int, Any]:
        st["n"] = st.get("n", 0) + 1
        return 200, {"rows": [], "next_page_token": f"t{st['n']}"}

    with server(route) as (url, _):
        with pytest.raises(ReplyError, match="empty pages in a row"):
            list(_client(url).changes("cust", "2026-01-01", 10))


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"rows": "oops", "next_page_token": None}, "'rows' is a str, not a list"),
        ({"rows": [{"a": 1}, 5]}, "row 1 is a int, not an object"),
        (["not", "an", "object"], "page 1 is a list, not an object"),
    ],
)
def test_replies_of_the_wrong_shape_are_a_clear_error(body, expected):
    with server(lambda path, st: (200, body)) as (url, _):
        with pytest.raises(ReplyError, match=expected) as err:
            list(_client(url).changes("cust", "2026-01-01", 10))
    assert "/v1/datasets/cust/changes" in str(err.value)


def test_a_stale_token_is_refreshed_once_outside_the_retry_loop():
    def route(path: str, st: dict) -> tuple[int, Any]:
        st["n"] = st.get("n", 0) + 1
        return (401, {}) if st["n"] == 1 else (200, {"datasets": [{"name": "cust"}]})

    with server(route) as (url, log):
        client = _client(url)
        assert list(client.datasets()) == ["cust"]
    assert client.stats["token_fetches"] == 2
    assert [x.split("?")[0] for x in log] == [
        "POST /oauth/token",
        "GET /v1/datasets",
        "POST /oauth/token",
        "GET /v1/datasets",
    ]

    with server(lambda path, st: (401, {})) as (url, log):  # always refused: two tokens, then a clear error
        client = _client(url)
        with pytest.raises(HttpGiveUp, match="HTTP 401 with a freshly fetched token"):
            client.datasets()
    assert client.stats["token_fetches"] == 2 and len(log) == 4


def test_crm_sessions_share_the_policy_and_name_what_failed():
    with server(lambda path, st: (502, {})) as (url, log):
        policy = RetryPolicy(max_attempts=3, budget=RunBudget(60.0), **FAST)
        session = make_session(timeout=2.0, policy=policy)
        with pytest.raises(HttpGiveUp) as err:
            session.get(f"{url}/api/data/v9.2/contacts", params={"$filter": "emailaddress1 eq 'jane@example.org'"})
    msg = str(err.value)
    assert "/api/data/v9.2/contacts?$filter=…:" in msg
    assert "3 attempts" in msg and "HTTP 502" in msg and "jane" not in msg
    assert len(log) == 3 and policy.budget.retries == 2
