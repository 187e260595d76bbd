"""What both CRM flavours' request handlers share: the store, credentials, tokens, faults, stats.

:class:`CrmCore` is the state of one sandbox CRM and the plumbing every handler uses: counting
requests, the flavour's error payload, writing a response, checking and issuing bearer tokens.
Handlers answer by raising :class:`Reply` (status, payload, headers), so a route is a chain of
``if`` tests that ends in exactly one answer. The Dynamics and Salesforce handlers
(:mod:`sandbox.crm_dynamics`, :mod:`sandbox.crm_salesforce`) extend it; :mod:`sandbox.crm_api`
routes between them.
"""

from __future__ import annotations

import base64
import contextlib
import json
import secrets
import ssl
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

from kore.contracts import crm_names
from sandbox import crm_schema
from sandbox.crm_faults import Faults
from sandbox.crm_preload import load_seed, synthesize
from sandbox.crm_store import CrmStore
from sandbox.crm_tls import ensure_jwt_key

DYN_PREFIX = f"/api/data/{crm_names.API_VERSION_DYNAMICS}/"
SF_PREFIX = f"/services/data/v{crm_names.API_VERSION_SALESFORCE}/"


class Reply(Exception):
    def __init__(self, status: int, payload: Any, headers: dict[str, str] | None = None):
        self.status, self.payload, self.headers = status, payload, headers or {}


def b64(obj: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")


def unb64(token: str) -> Any:
    return json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))


def lower_headers(headers) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}


class CrmCore:
    """One sandbox CRM's state and the plumbing its handlers share (no routing here)."""

    def __init__(
        self, sandbox_dir: Path, flavor: str, faults: dict | None = None, entity_sets: dict[str, str] | None = None
    ):
        if flavor not in ("dynamics", "salesforce"):
            raise ValueError(f"flavor must be 'dynamics' or 'salesforce', not {flavor!r}")
        self.flavor = flavor
        self.sandbox_dir = Path(sandbox_dir)
        self.store = CrmStore(self.sandbox_dir / f"crm_{flavor}.sqlite", flavor)
        self.faults = Faults()
        if faults:
            self.faults.add(faults)
        self.stats: Counter[str] = Counter()
        self.stats_lock = threading.Lock()
        self.tokens: set[str] = set()
        self.url = ""
        creds_file = self.sandbox_dir / f"crm_{flavor}_credentials.json"
        if creds_file.exists():
            creds = json.loads(creds_file.read_text())
        else:
            creds = {
                "tenant_id": "kore-sandbox-tenant",
                "client_id": secrets.token_hex(8),
                "client_secret": secrets.token_urlsafe(24),
                "username": "integration@kore.example",
                "password": secrets.token_urlsafe(12),
                "security_token": secrets.token_hex(6),
            }
            creds_file.write_text(json.dumps(creds))
            creds_file.chmod(0o600)
        self.creds = creds
        tables = crm_schema.tables(flavor)
        # Dataverse entity-set names (the org's, read by clients from EntityDefinitions); a test may
        # rename some to prove a client takes them from the metadata rather than a rule of its own
        self.set_names = {n: (entity_sets or {}).get(n, t.entity_set) for n, t in tables.items()}
        self.by_set = {s: tables[n] for n, s in self.set_names.items()}
        self.jwt_key = ensure_jwt_key(self.sandbox_dir) if flavor == "salesforce" else None
        self.seeded: dict[str, int] = {}
        if self.store.is_empty():
            self.seeded = load_seed(self.store, self.sandbox_dir / "crm_seed")
            self.seeded["synthetic"] = sum(synthesize(self.store, skip=set(self.seeded)).values())

    # -- plumbing ---------------------------------------------------------------------------
    def count(self, label: str, n: int = 1) -> None:
        with self.stats_lock:
            self.stats[label] += n

    def _error_payload(self, status: int, message: str, code: str = "") -> Any:
        if self.flavor == "salesforce":
            return [{"message": message, "errorCode": code or f"HTTP_{status}", "fields": []}]
        return {"error": {"code": code or f"0x8004{status:04d}", "message": message}}

    def _send(self, h: BaseHTTPRequestHandler, status: int, payload: Any, headers: dict | None = None) -> None:
        headers = dict(headers or {})
        if isinstance(payload, bytes):
            data = payload
            headers.setdefault("Content-Type", "application/octet-stream")
        elif payload is None:
            data = b""
        else:
            data = json.dumps(payload, default=str).encode()
            headers.setdefault("Content-Type", "application/json; charset=utf-8")
        with contextlib.suppress(BrokenPipeError, ConnectionResetError, ssl.SSLError, OSError):
            h.send_response(status)
            for k, v in headers.items():
                h.send_header(k, v)
            h.send_header("Content-Length", str(len(data)))
            h.end_headers()
            if data:
                h.wfile.write(data)

    def _auth(self, h: BaseHTTPRequestHandler) -> None:
        auth = h.headers.get("Authorization", "")
        if not auth.startswith("Bearer ") or auth[7:] not in self.tokens:
            if self.flavor == "salesforce":
                payload = [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID", "fields": []}]
            else:
                payload = self._error_payload(401, "invalid or missing bearer token")
            raise Reply(401, payload)

    def _issue_token(self) -> str:
        token = secrets.token_urlsafe(32)
        self.tokens.add(token)
        return token
