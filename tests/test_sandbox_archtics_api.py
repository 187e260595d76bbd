"""Sandbox Archtics API over real HTTP on loopback: auth, paging, the since boundary, faults."""

from __future__ import annotations

import csv
import gzip
import json
import time
from collections import Counter, defaultdict
from pathlib import Path

import pytest
import requests

from kore.contracts.archtics import DATASETS
from sandbox.archtics_api import ArchticsSandbox
from sandbox.generator import generate

CUTOFF = "2026-10-01 12:00:01"


def read_gz_csv(path: Path) -> list[dict]:
    with gzip.open(path, "rt", encoding="utf-8", newline="") as f:
        return [{k: (v if v != "" else None) for k, v in r.items()} for r in csv.DictReader(f)]


@pytest.fixture(scope="module")
def dirs(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("api")
    generate(300, root / "export", seed=11, part_rows=700, show_progress=False)
    return root / "sandbox", root / "export"


@pytest.fixture(scope="module")
def api(dirs):
    with ArchticsSandbox(*dirs) as sb:
        yield sb


def token(sb: ArchticsSandbox) -> dict[str, str]:
    r = requests.post(
        sb.url + "/oauth/token",
        data={"grant_type": "client_credentials", "client_id": sb.client_id, "client_secret": sb.client_secret},
        timeout=10,
    )
    r.raise_for_status()
    body = r.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] > 0
    return {"Authorization": "Bearer " + body["access_token"]}


def all_changes(sb, headers, dataset, since, page_size) -> tuple[list[dict], int]:
    rows, pages, tok = [], 0, None
    while True:
        params = {"since": since, "page_size": page_size}
        if tok:
            params["page_token"] = tok
        r = requests.get(f"{sb.url}/v1/datasets/{dataset}/changes", params=params, headers=headers, timeout=30)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["dataset"] == dataset
        rows += body["rows"]
        pages += 1
        tok = body["next_page_token"]
        if not tok:
            return rows, pages


def expected_live_state(dirs, dataset: str) -> list[dict]:
    """Export + live changes computed from the files, independently of the server's DuckDB."""
    sandbox, export = dirs
    manifest = json.loads((export / "manifest.json").read_text())
    exp = [r for f in manifest["files"] if f["dataset"] == dataset for r in read_gz_csv(export / f["path"])]
    live = read_gz_csv(sandbox / "archtics_live" / f"{dataset}.csv.gz")
    ds = DATASETS[dataset]
    if ds.is_child_list:
        replaced = {tuple(r[k] for k in ds.parent_key) for r in live}
        return live + [r for r in exp if tuple(r[k] for k in ds.parent_key) not in replaced]
    keys = {tuple(r[k] for k in ds.business_key) for r in live}
    return live + [r for r in exp if tuple(r[k] for k in ds.business_key) not in keys]


def test_auth_required(api):
    assert requests.get(api.url + "/v1/datasets", timeout=10).status_code == 401
    r = requests.get(api.url + "/v1/datasets", headers={"Authorization": "Bearer nope"}, timeout=10)
    assert r.status_code == 401 and "Bearer" in r.headers["WWW-Authenticate"]
    bad = requests.post(
        api.url + "/oauth/token",
        data={"grant_type": "client_credentials", "client_id": api.client_id, "client_secret": "wrong"},
        timeout=10,
    )
    assert bad.status_code == 401 and "access_token" not in bad.json()
    r = requests.get(api.url + "/v1/datasets", headers=token(api), timeout=10)
    assert r.status_code == 200
    body = r.json()
    assert body["cutoff"] == CUTOFF
    assert {d["name"] for d in body["datasets"]} == set(DATASETS)
    cust_email = next(d for d in body["datasets"] if d["name"] == "cust_email")
    assert cust_email["child_list_of"] == "cust" and cust_email["replace_key"] == ["acct_id"]


def test_token_expires(dirs):
    with ArchticsSandbox(*dirs, token_ttl=1) as sb:
        h = token(sb)
        assert requests.get(sb.url + "/v1/datasets", headers=h, timeout=10).status_code == 200
        time.sleep(1.2)
        assert requests.get(sb.url + "/v1/datasets", headers=h, timeout=10).status_code == 401


@pytest.mark.parametrize(
    "dataset,page_size",
    [("ticket", 257), ("cust", 50), ("cust_email", 40), ("cust_rep", 30), ("note", 20), ("events_in_plan", 100)],
)
def test_pagination_covers_every_row_once(api, dirs, dataset, page_size):
    h = token(api)
    rows, pages = all_changes(api, h, dataset, "1900-01-01 00:00:00", page_size)
    assert pages > 2
    ds = DATASETS[dataset]
    got = Counter(tuple(r[k] for k in ds.business_key) for r in rows)
    assert max(got.values()) == 1, "a row came twice"
    expected = expected_live_state(dirs, dataset)
    assert set(got) == {tuple(r[k] for k in ds.business_key) for r in expected}
    # rows are the live versions, in (change_ts, key) order, each with change_ts
    by_key = {tuple(r[k] for k in ds.business_key): r for r in expected}
    for r in rows:
        assert all(r[c] == by_key[tuple(r[k] for k in ds.business_key)][c] for c in ds.columns)
    ts = [r["change_ts"] for r in rows]
    assert all(t is not None for t in ts) and ts == sorted(ts)
    if ds.cursor:
        assert all(r["change_ts"] == r[ds.cursor] for r in rows)


def test_since_is_inclusive_and_returns_only_changes(api, dirs):
    h = token(api)
    sandbox, _ = dirs
    rows, _ = all_changes(api, h, "cust", CUTOFF, 1000)
    live = read_gz_csv(sandbox / "archtics_live" / "cust.csv.gz")
    assert {(r["acct_id"], r["cust_name_id"]) for r in rows} == {(r["acct_id"], r["cust_name_id"]) for r in live}
    at_cutoff = [r for r in rows if r["upd_date"] == CUTOFF]
    assert at_cutoff, "rows changed exactly at the cutoff second are returned"
    just_after, _ = all_changes(api, h, "cust", "2026-10-01 12:00:02", 1000)
    assert len(just_after) == len(rows) - len(at_cutoff)
    tickets, _ = all_changes(api, h, "ticket", CUTOFF, 1000)
    assert tickets and all(r["upd_datetime"] >= CUTOFF for r in tickets)
    merges = [r for r in all_changes(api, h, "note", CUTOFF, 1000)[0] if r["text"].startswith("Merged account")]
    assert merges


def test_child_lists_whole_and_never_split(api, dirs):
    h = token(api)
    changed_accts = {r["acct_id"] for r in all_changes(api, h, "cust", CUTOFF, 1000)[0]}
    pages = []
    tok = None
    while True:
        params = {"since": CUTOFF, "page_size": 1}
        if tok:
            params["page_token"] = tok
        body = requests.get(f"{api.url}/v1/datasets/cust_email/changes", params=params, headers=h, timeout=10).json()
        pages.append(body["rows"])
        tok = body["next_page_token"]
        if not tok:
            break
    page_of = defaultdict(set)
    for i, page in enumerate(pages):
        for r in page:
            page_of[r["acct_id"]].add(i)
    assert all(len(p) == 1 for p in page_of.values()), "an account's list was split across pages"
    got = [r for p in pages for r in p]
    state = expected_live_state(dirs, "cust_email")
    expected = [r for r in state if r["acct_id"] in changed_accts]
    assert sorted(r["email_id"] for r in got) == sorted(r["email_id"] for r in expected)
    assert {r["acct_id"] for r in got} <= changed_accts


def test_bad_requests(api):
    h = token(api)
    u = api.url + "/v1/datasets/ticket/changes"
    assert requests.get(u, params={"since": "yesterday"}, headers=h, timeout=10).status_code == 400
    assert requests.get(u, headers=h, timeout=10).status_code == 400
    assert (
        requests.get(api.url + "/v1/datasets/nope/changes", params={"since": CUTOFF}, headers=h, timeout=10).status_code
        == 404
    )
    assert requests.get(u, params={"since": CUTOFF, "page_token": "garbage!"}, headers=h, timeout=10).status_code == 400
    first = requests.get(u, params={"since": "2020-01-01 00:00:00", "page_size": 5}, headers=h, timeout=10).json()
    tok = first["next_page_token"]
    other = requests.get(u, params={"since": CUTOFF, "page_token": tok}, headers=h, timeout=10)
    assert other.status_code == 400, "a token is only valid for its own query"
    big = requests.get(u, params={"since": "2000-01-01", "page_size": 10**6}, headers=h, timeout=30).json()
    assert len(big["rows"]) == api.page_size_max or big["next_page_token"] is None


def test_admin_state_is_full_live_state(api, dirs):
    h = token(api)
    body = requests.get(api.url + "/admin/state", params={"dataset": "ticket"}, headers=h, timeout=30).json()
    expected = expected_live_state(dirs, "ticket")
    assert body["count"] == len(expected) == len(body["rows"])
    assert requests.get(api.url + "/admin/state", params={"dataset": "ticket"}, timeout=10).status_code == 401


def test_fault_sequence(dirs):
    with ArchticsSandbox(*dirs) as sb:
        h = token(sb)
        r = requests.post(
            sb.url + "/admin/faults",
            json={"sequence": ["429", "500", "drop", "ok"], "retry_after": 2},
            headers=h,
            timeout=10,
        )
        assert r.status_code == 200
        u = sb.url + "/v1/datasets/ticket/changes"
        p = {"since": "2000-01-01 00:00:00", "page_size": 500}
        r1 = requests.get(u, params=p, headers=h, timeout=10)
        assert r1.status_code == 429 and r1.headers["Retry-After"] == "2"
        assert requests.get(u, params=p, headers=h, timeout=10).status_code == 500
        with pytest.raises(requests.exceptions.RequestException):
            requests.get(u, params=p, headers=h, timeout=10).json()
        ok = requests.get(u, params=p, headers=h, timeout=10)
        assert ok.status_code == 200 and len(ok.json()["rows"]) == 500
        stats = requests.get(sb.url + "/admin/faults", headers=h, timeout=10).json()
        assert stats["injected"]["429"] == 1 and stats["injected"]["drop"] == 1 and stats["pending_sequence"] == []


def test_fault_rates_and_slow(dirs):
    with ArchticsSandbox(*dirs, faults={"rate_429": 1.0, "retry_after": 1}) as sb:
        h = token(sb)
        u = sb.url + "/v1/datasets"
        assert all(requests.get(u, headers=h, timeout=10).status_code == 429 for _ in range(5))
        requests.post(sb.url + "/admin/faults", json={"slow_ms": 250}, headers=h, timeout=10)
        t = time.perf_counter()
        assert requests.get(u, headers=h, timeout=10).status_code == 200
        assert time.perf_counter() - t >= 0.25
        requests.post(
            sb.url + "/admin/faults",
            json={"rate_500": 0.5, "drop_connection_rate": 0.2, "seed": 3},
            headers=h,
            timeout=10,
        )
        codes = Counter()
        for _ in range(40):
            try:
                codes[requests.get(u, headers=h, timeout=10).status_code] += 1
            except requests.exceptions.RequestException:
                codes["dropped"] += 1
        assert codes[500] >= 10 and codes["dropped"] >= 2 and codes[200] >= 5
        bad = requests.post(sb.url + "/admin/faults", json={"rate_9000": 1}, headers=h, timeout=10)
        assert bad.status_code == 400


def test_serve_writes_credentials_file_not_stdout(dirs):
    import os
    import signal
    import subprocess
    import sys

    sandbox, export = dirs
    cred = sandbox / "archtics_api_credentials.json"
    cred.unlink(missing_ok=True)
    code = f"from pathlib import Path; from sandbox.archtics_api import serve; serve(Path({str(sandbox)!r}), Path({str(export)!r}), 0)"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    # started the way nohup or a pytest-xdist worker starts it: SIGINT ignored, which a child inherits
    # (the server must still stop on Ctrl-C)
    proc = subprocess.Popen(
        [sys.executable, "-c", code],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    try:
        deadline = time.time() + 60
        while not cred.exists() and time.time() < deadline:
            time.sleep(0.1)
        time.sleep(0.2)
        creds = json.loads(cred.read_text())
        assert oct(cred.stat().st_mode & 0o777) == "0o600"
        r = requests.post(
            creds["url"] + "/oauth/token",
            data={
                "grant_type": "client_credentials",
                "client_id": creds["client_id"],
                "client_secret": creds["client_secret"],
            },
            timeout=10,
        )
        assert r.status_code == 200
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    assert creds["url"] in out and str(cred) in out
    assert creds["client_secret"] not in out


def test_the_api_reads_its_state_under_a_small_memory_limit(
    dirs, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The sandbox serves from the flow's own process in the demo and the benchmarks: what its
    read-only connection caches of the tables it scanned (a sample reads a whole table) counts in
    the flow's memory, so that connection has a limit of its own, small by default."""
    from sandbox.archtics_state import ArchticsState

    export, live, cache = dirs[1], tmp_path / "live", tmp_path / "cache"  # a state file of its own
    monkeypatch.delenv("KORE_SANDBOX_SERVE_DUCKDB_MEMORY", raising=False)
    monkeypatch.setenv("KORE_SANDBOX_DUCKDB_MEMORY", "1GB")  # the build's limit is not the serving one
    state = ArchticsState(export, live, cache)
    try:
        assert state.con.execute("select current_setting('memory_limit')").fetchone()[0] == "244.1 MiB"
        assert len(state.sample("ticket", 5, seed=1)) == 5
    finally:
        state.close()
    monkeypatch.setenv("KORE_SANDBOX_SERVE_DUCKDB_MEMORY", "64MB")
    state = ArchticsState(export, live, cache)
    try:
        assert state.con.execute("select current_setting('memory_limit')").fetchone()[0] == "61.0 MiB"
    finally:
        state.close()
