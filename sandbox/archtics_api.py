"""Sandbox Archtics API: the delta API stand-in the incremental pipeline talks to over real HTTP.

Protocol (``docs/architecture.md`` "Sandbox Archtics API"):

* ``POST /oauth/token`` — form ``grant_type=client_credentials&client_id=..&client_secret=..``
  (or HTTP Basic) -> ``{"access_token", "token_type": "Bearer", "expires_in"}``.
* Every other call needs ``Authorization: Bearer <token>``; 401 otherwise (also when expired).
* ``GET /v1/datasets`` -> ``{"cutoff", "datasets": [{"name", "business_key", "cursor",
  "child_list_of", "replace_key"}]}``.
* ``GET /v1/datasets/{dataset}/changes?since=<ts>&page_size=<n>[&page_token=<t>]`` ->
  ``{"dataset", "since", "rows": [...], "next_page_token"}``: rows with change time ``>= since``
  (inclusive), ordered by (change_ts, business key), every row with ``change_ts``. Child lists
  (cust_address, cust_email, cust_rep, events_in_plan) come whole for each changed parent and are
  never split across pages (a page may then exceed ``page_size`` by the rest of one list).
  ``page_size`` defaults to 1000 and is capped at ``page_size_max``; tokens are opaque and only
  valid for the same dataset and ``since``. Account merges are ``note`` rows "Merged account <old>
  into <new>".
* ``POST /admin/faults`` (JSON) sets fault injection; ``GET /admin/faults`` shows the settings and
  what was injected; ``GET /admin/state?dataset=X[&page_size&page_token]`` returns the full live
  rows (reconciliation audits). Admin calls need the bearer token too and are never faulted.

Faults (``faults=`` argument or ``POST /admin/faults``), applied to ``/v1/`` requests:
``{"rate_429": 0.2, "retry_after": 1, "rate_500": 0.1, "slow_ms": 200, "rate_slow": 1.0,
"drop_connection_rate": 0.1, "seed": 1}`` or a deterministic ``{"sequence": ["429", "ok", "500",
"drop", "slow", "ok"]}`` consumed one entry per request before the random rates apply. A 429
carries ``Retry-After``; "drop" sends the headers and part of the body, then closes the socket.

The live state is the export plus ``<sandbox_dir>/archtics_live/`` (see :mod:`sandbox.live_changes`).
Credentials: ``KORE_ARCHTICS_CLIENT_ID`` / ``KORE_ARCHTICS_CLIENT_SECRET`` if set (see
:mod:`sandbox.config`), else generated per instance. They are never logged; :func:`serve` writes them to
``<sandbox_dir>/archtics_api_credentials.json`` (mode 0600).
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import random
import secrets
import socket
import threading
import time
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

from kore.contracts.archtics import DATASETS
from sandbox.archtics_state import ArchticsState
from sandbox.config import sandbox_settings
from sandbox.loopback import require_loopback, stop_on_interrupt

DEFAULT_PAGE_SIZE = 1000
CREDENTIALS_FILE = "archtics_api_credentials.json"


class FaultPlan:
    """Decides, per request, whether to answer normally or inject a fault. Thread-safe."""

    KINDS = ("ok", "429", "500", "drop", "slow")

    def __init__(self, config: dict | None = None):
        self._lock = threading.Lock()
        self.injected: dict[str, int] = {k: 0 for k in self.KINDS}
        self.requests = 0
        self.configure(config or {})

    def configure(self, config: dict) -> None:
        cfg = dict(config)
        if "drop_connection_rate" in cfg and "rate_drop" not in cfg:
            cfg["rate_drop"] = cfg.pop("drop_connection_rate")
        allowed = {"rate_429", "retry_after", "rate_500", "slow_ms", "rate_slow", "rate_drop", "seed", "sequence"}
        unknown = set(cfg) - allowed
        if unknown:
            raise ValueError(f"unknown fault settings: {sorted(unknown)}")
        seq = [str(s) for s in cfg.get("sequence", [])]
        bad = [s for s in seq if s not in self.KINDS]
        if bad:
            raise ValueError(f"unknown fault kinds in sequence: {bad}")
        for k in ("rate_429", "rate_500", "rate_slow", "rate_drop"):
            v = float(cfg.get(k, 0.0))
            if not 0.0 <= v <= 1.0:
                raise ValueError(f"{k} must be between 0 and 1")
        with self._lock:
            self.config = cfg
            self.sequence = seq
            self.rng = random.Random(cfg.get("seed", 0))
            self.slow_ms = int(cfg.get("slow_ms", 0))
            self.retry_after = int(cfg.get("retry_after", 1))
            self.rates = [
                ("429", float(cfg.get("rate_429", 0.0))),
                ("500", float(cfg.get("rate_500", 0.0))),
                ("drop", float(cfg.get("rate_drop", 0.0))),
            ]
            self.rate_slow = float(cfg.get("rate_slow", 1.0 if self.slow_ms else 0.0))

    def next(self) -> str:
        with self._lock:
            self.requests += 1
            if self.sequence:
                kind = self.sequence.pop(0)
            else:
                kind = "ok"
                r = self.rng.random()
                acc = 0.0
                for k, rate in self.rates:
                    acc += rate
                    if r < acc:
                        kind = k
                        break
                if kind == "ok" and self.rate_slow and self.rng.random() < self.rate_slow:
                    kind = "slow"
            self.injected[kind] += 1
            return kind

    def describe(self) -> dict:
        with self._lock:
            return {
                "config": self.config,
                "pending_sequence": list(self.sequence),
                "requests": self.requests,
                "injected": dict(self.injected),
            }


class ApiError(Exception):
    def __init__(self, status: int, error: str, detail: str = ""):
        super().__init__(detail or error)
        self.status, self.error, self.detail = status, error, detail


def _parse_since(value: str | None) -> str:
    if not value:
        raise ApiError(400, "invalid_request", "since is required (YYYY-MM-DD HH:MM:SS)")
    v = value.strip().replace("T", " ").removesuffix("Z").removesuffix("+00:00")
    for fmt in ("%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d"):
        try:
            return datetime.strptime(v, fmt).strftime("%Y-%m-%d %H:%M:%S")
        except ValueError:
            continue
    raise ApiError(400, "invalid_request", "since must be a timestamp YYYY-MM-DD HH:MM:SS")


def _encode_token(payload: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode()).decode().rstrip("=")


def _decode_token(token: str) -> dict:
    try:
        pad = "=" * (-len(token) % 4)
        data = json.loads(base64.urlsafe_b64decode(token + pad))
        if not isinstance(data, dict):
            raise ValueError
        return data
    except (ValueError, binascii.Error, json.JSONDecodeError) as e:
        raise ApiError(400, "invalid_page_token", "page_token is not valid") from e


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - silence per-request logs
        return

    # -- plumbing -----------------------------------------------------------------------------
    def _send_json(self, status: int, body: dict, headers: dict[str, str] | None = None, drop: bool = False) -> None:
        data = json.dumps(body, separators=(",", ":")).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if drop:
            self.wfile.write(data[: max(1, len(data) // 2)])
            self.wfile.flush()
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        self.wfile.write(data)

    def _error(self, e: ApiError) -> None:
        headers = {"WWW-Authenticate": f'Bearer error="{e.error}"'} if e.status == 401 else None
        self._send_json(e.status, {"error": e.error, "error_description": e.detail}, headers)

    def _read_body(self) -> bytes:
        n = int(self.headers.get("Content-Length") or 0)
        if n > 1_000_000:
            raise ApiError(413, "request_too_large")
        return self.rfile.read(n) if n else b""

    def _check_auth(self) -> None:
        auth = self.headers.get("Authorization", "")
        if not auth.startswith("Bearer "):
            raise ApiError(401, "invalid_token", "bearer token required")
        if not self.server.sandbox._token_valid(auth[7:].strip()):
            raise ApiError(401, "invalid_token", "token unknown or expired")

    # -- routes -------------------------------------------------------------------------------
    def do_POST(self) -> None:  # noqa: N802
        try:
            url = urlparse(self.path)
            body = self._read_body()
            if url.path == "/oauth/token":
                self._token(body)
            elif url.path == "/admin/faults":
                self._check_auth()
                try:
                    cfg = json.loads(body or b"{}")
                    self.server.sandbox.faults.configure(cfg)
                except (ValueError, TypeError) as e:
                    raise ApiError(400, "invalid_request", str(e)) from e
                self._send_json(200, self.server.sandbox.faults.describe())
            else:
                raise ApiError(404, "not_found")
        except ApiError as e:
            self._error(e)
        except Exception:  # noqa: BLE001 - a bug must still answer (500), not hang up like a fault
            self._error(ApiError(500, "internal_error", "unexpected server error"))

    def do_GET(self) -> None:  # noqa: N802
        try:
            url = urlparse(self.path)
            q = {k: v[-1] for k, v in parse_qs(url.query).items()}
            self._check_auth()
            if url.path == "/admin/faults":
                return self._send_json(200, self.server.sandbox.faults.describe())
            if url.path == "/admin/state":
                return self._state(q)
            if url.path.startswith("/v1/"):
                kind = self.server.sandbox.faults.next()
                if kind == "429":
                    ra = str(self.server.sandbox.faults.retry_after)
                    return self._send_json(429, {"error": "rate_limited"}, {"Retry-After": ra})
                if kind == "500":
                    return self._send_json(500, {"error": "internal_error"})
                if kind == "slow":
                    time.sleep(self.server.sandbox.faults.slow_ms / 1000)
                body = self._v1(url.path, q)
                return self._send_json(200, body, drop=kind == "drop")
            raise ApiError(404, "not_found")
        except ApiError as e:
            self._error(e)
        except Exception:  # noqa: BLE001 - a bug must still answer (500), not hang up like a fault
            self._error(ApiError(500, "internal_error", "unexpected server error"))

    def _token(self, body: bytes) -> None:
        form = {k: v[-1] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
        cid, csec = form.get("client_id"), form.get("client_secret")
        basic = self.headers.get("Authorization", "")
        if basic.startswith("Basic "):
            try:
                cid, _, csec = base64.b64decode(basic[6:]).decode().partition(":")
            except (ValueError, binascii.Error) as e:
                raise ApiError(401, "invalid_client") from e
        if form.get("grant_type") != "client_credentials":
            raise ApiError(400, "unsupported_grant_type", "grant_type must be client_credentials")
        sb = self.server.sandbox
        if not (
            cid
            and csec
            and secrets.compare_digest(cid, sb.client_id)
            and secrets.compare_digest(csec, sb.client_secret)
        ):
            raise ApiError(401, "invalid_client", "client authentication failed")
        token = sb._issue_token()
        self._send_json(200, {"access_token": token, "token_type": "Bearer", "expires_in": sb.token_ttl})

    def _page_args(self, q: dict, dataset: str, since: str | None, default_size: int | None) -> tuple[int, int | None]:
        sb = self.server.sandbox
        size: int | None = default_size
        if "page_size" in q:
            try:
                size = int(q["page_size"])
            except ValueError as e:
                raise ApiError(400, "invalid_request", "page_size must be an integer") from e
            if size < 1:
                raise ApiError(400, "invalid_request", "page_size must be >= 1")
        if size is not None:
            size = min(size, sb.page_size_max)
        after = -1
        if q.get("page_token"):
            tok = _decode_token(q["page_token"])
            if tok.get("d") != dataset or tok.get("s") != since or tok.get("v") != sb.state.version:
                raise ApiError(400, "invalid_page_token", "page_token belongs to another query or state")
            after = int(tok.get("q", -1))
        return after, size

    def _v1(self, path: str, q: dict) -> dict:
        sb = self.server.sandbox
        parts = path.strip("/").split("/")
        if parts == ["v1", "datasets"]:
            return {
                "cutoff": sb.state.cutoff,
                "datasets": [
                    {
                        "name": d.name,
                        "business_key": list(d.business_key),
                        "cursor": d.cursor,
                        "child_list_of": d.parent,
                        "replace_key": list(d.parent_key) if d.parent else None,
                        "columns": d.columns,
                    }
                    for d in DATASETS.values()
                ],
            }
        if len(parts) == 4 and parts[:2] == ["v1", "datasets"] and parts[3] == "changes":
            dataset = parts[2]
            if dataset not in DATASETS:
                raise ApiError(404, "unknown_dataset", f"no dataset {dataset!r}")
            since = _parse_since(q.get("since"))
            after, size = self._page_args(q, dataset, since, DEFAULT_PAGE_SIZE)
            rows, last = sb.state.page(dataset, since, after, size)
            token = _encode_token({"d": dataset, "s": since, "q": last, "v": sb.state.version}) if last else None
            return {"dataset": dataset, "since": since, "rows": rows, "next_page_token": token}
        raise ApiError(404, "not_found")

    def _state(self, q: dict) -> None:
        sb = self.server.sandbox
        dataset = q.get("dataset", "")
        if dataset not in DATASETS:
            raise ApiError(404, "unknown_dataset", f"no dataset {dataset!r}")
        if q.get("sample"):  # ?sample=N[&seed=S]: N random live rows, one reply
            try:
                n, seed = int(q["sample"]), int(q.get("seed", 7))
            except ValueError as e:
                raise ApiError(400, "invalid_request", "sample and seed must be integers") from e
            rows = sb.state.sample(dataset, max(n, 0), seed)
            self._send_json(200, {"dataset": dataset, "count": len(rows), "rows": rows, "next_page_token": None})
            return
        after, size = self._page_args(q, dataset, None, None)
        if size is None:
            rows, last = sb.state.page(dataset, None, after, None)
        else:
            rows, last = sb.state.page(dataset, None, after, size)
        token = _encode_token({"d": dataset, "s": None, "q": last, "v": sb.state.version}) if last else None
        self._send_json(200, {"dataset": dataset, "count": len(rows), "rows": rows, "next_page_token": token})


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    sandbox: ArchticsSandbox


class ArchticsSandbox:
    """The sandbox Archtics API on 127.0.0.1; use as a context manager (or start()/stop())."""

    def __init__(
        self,
        sandbox_dir: Path,
        export_dir: Path,
        host: str = "127.0.0.1",
        port: int = 0,
        faults: dict | None = None,
        page_size_max: int = 5000,
        token_ttl: int = 3600,
        show_progress: bool = False,
    ):
        self.sandbox_dir = Path(sandbox_dir)
        self.export_dir = Path(export_dir)
        self.host, self.port = require_loopback(host), port
        self.page_size_max = page_size_max
        self.token_ttl = token_ttl
        self.show_progress = show_progress
        self.faults = FaultPlan(faults)
        cfg = sandbox_settings()
        self.client_id = cfg.archtics_client_id or "kore-sandbox-" + secrets.token_hex(4)
        self.client_secret = cfg.archtics_client_secret or secrets.token_urlsafe(24)
        self._tokens: dict[str, float] = {}
        self._tok_lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.state: ArchticsState | None = None
        self.url = ""

    # -- tokens -------------------------------------------------------------------------------
    def _issue_token(self) -> str:
        tok = secrets.token_urlsafe(32)
        with self._tok_lock:
            self._tokens[tok] = time.monotonic() + self.token_ttl
        return tok

    def _token_valid(self, tok: str) -> bool:
        with self._tok_lock:
            exp = self._tokens.get(tok)
            return exp is not None and exp > time.monotonic()

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self) -> ArchticsSandbox:
        if not (self.export_dir / "manifest.json").exists():
            raise FileNotFoundError(f"no export manifest in {self.export_dir}")
        self.state = ArchticsState(
            self.export_dir,
            self.sandbox_dir / "archtics_live",
            self.sandbox_dir / "archtics_api_cache",
            show_progress=self.show_progress,
        )
        self._server = _Server((self.host, self.port), _Handler)
        self._server.sandbox = self
        self.port = self._server.server_address[1]
        self.url = f"http://{self.host}:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="archtics-sandbox", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self.state:
            self.state.close()
            self.state = None

    def __enter__(self) -> ArchticsSandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def write_credentials(sandbox_dir: Path, sb: ArchticsSandbox) -> Path:
    """Write url + credentials to a 0600 file so other processes can connect without seeing stdout."""
    path = Path(sandbox_dir) / CREDENTIALS_FILE
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump({"url": sb.url, "client_id": sb.client_id, "client_secret": sb.client_secret}, f)
    return path


def serve(
    sandbox_dir: Path, export_dir: Path, port: int = 0, host: str = "127.0.0.1", faults: dict | None = None
) -> None:
    """Run the sandbox API until interrupted (``kore sandbox serve archtics``): Ctrl-C or SIGTERM."""
    stop_on_interrupt()
    sb = ArchticsSandbox(sandbox_dir, export_dir, host=host, port=port, faults=faults, show_progress=True)
    print("Loading the Archtics live state (export + changes) ...", flush=True)
    with sb:
        cred = write_credentials(sandbox_dir, sb)
        print(f"Sandbox Archtics API listening on {sb.url}", flush=True)
        print(f"Credentials (url, client_id, client_secret) written to {cred}", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            print("Stopping.", flush=True)
