"""Sandbox CRM: the subset of the Dynamics 365 Web API or Salesforce REST API that KORE uses.

It exists so the CRM pull and push run against real HTTP (https on 127.0.0.1) with real clients
(msal, simple-salesforce, requests) and real failure modes, without a CRM tenant:

Dynamics (flavor ``dynamics``)
  ``GET /{tenant}/v2.0/.well-known/openid-configuration``, ``POST /{tenant}/oauth2/v2.0/token``
  (what msal's ConfidentialClientApplication needs for client credentials);
  ``GET /api/data/v9.2/{entityset}?$select&$filter=modifiedon ge <ts>&$orderby`` with
  ``Prefer: odata.maxpagesize`` and ``@odata.nextLink``; ``PATCH /api/data/v9.2/{set}(key)`` upsert
  by id or alternate key (``If-Match: *`` / ``If-None-Match: *``), ``@odata.bind`` lookups;
  ``POST /api/data/v9.2/$batch`` (change sets are transactional, ``odata.continue-on-error``).
Salesforce (flavor ``salesforce``)
  ``POST /services/oauth2/token`` (client credentials or password + security token);
  ``GET /services/data/v60.0/query?q=SOQL`` with ``nextRecordsUrl`` paging;
  ``PATCH /services/data/v60.0/composite/sobjects/{Object}/{ExternalIdField}`` (up to 200
  records, ``allOrNone``, per-record results, parents by external-id relationship).
Admin (sandbox only, no auth): ``POST/GET/DELETE /admin/faults``, ``GET /admin/stats``,
``POST /admin/stats/reset``, ``GET /admin/records?entity=``, ``POST /admin/touch``.

Records live in ``<sandbox_dir>/crm_<flavor>.sqlite`` (see ``crm_store``) and are validated like a
CRM would (``crm_schema``). An empty store is seeded from ``<sandbox_dir>/crm_seed/`` plus a few
synthetic records per CRM-owned entity (``crm_preload``).
"""

from __future__ import annotations

import base64
import contextlib
import json
import math
import re
import secrets
import ssl
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

from kore.contracts import crm_names, odata_batch
from sandbox import crm_schema
from sandbox.crm_preload import load_seed, synthesize
from sandbox.crm_store import CrmError, CrmStore, Ref, Write, iso, parse_ts
from sandbox.crm_tls import ensure_certificate
from sandbox.loopback import require_loopback

DYN_PREFIX = f"/api/data/{crm_names.API_VERSION_DYNAMICS}/"
SF_PREFIX = f"/services/data/v{crm_names.API_VERSION_SALESFORCE}/"
MAX_BATCH_REQUESTS = 1000
MAX_COLLECTION_RECORDS = 200
DEFAULT_DYN_PAGE = 5000
DEFAULT_SF_PAGE = 2000


@dataclass
class Fault:
    """An injected failure: ``kind`` 429 | 500 | slow | drop, for the next ``times`` matching requests."""

    kind: str
    times: int = 1
    match: str = ""  # substring of the request path; empty = any API request
    retry_after: float = 1.0  # whole seconds on the wire (Retry-After is an integer)
    seconds: float = 2.0
    when: str = "after"  # slow: delay the response after the work is done (client times out, retries)


@dataclass
class Faults:
    pending: list[Fault] = field(default_factory=list)
    record_errors: dict[str, str] = field(default_factory=dict)  # external key -> message
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, spec: dict[str, Any]) -> None:
        with self.lock:
            for f in spec.get("faults", []):
                self.pending.append(Fault(**{**f, "kind": str(f["kind"])}))
            errs = spec.get("record_errors") or {}
            if isinstance(errs, list):
                errs = {k: "injected record error" for k in errs}
            self.record_errors.update(errs)

    def take(self, path: str) -> Fault | None:
        with self.lock:
            for f in self.pending:
                if f.times > 0 and f.match in path:
                    f.times -= 1
                    if f.times == 0:
                        self.pending.remove(f)
                    return f
        return None

    def clear(self) -> None:
        with self.lock:
            self.pending.clear()
            self.record_errors.clear()

    def as_dict(self) -> dict[str, Any]:
        with self.lock:
            return {"faults": [f.__dict__ for f in self.pending], "record_errors": dict(self.record_errors)}


class _Reply(Exception):
    def __init__(self, status: int, payload: Any, headers: dict[str, str] | None = None):
        self.status, self.payload, self.headers = status, payload, headers or {}


def _b64(obj: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")


def _unb64(token: str) -> Any:
    return json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))


_KEY = re.compile(r"^([A-Za-z0-9_]+)\((.*)\)$")
_SOQL = re.compile(
    r"^\s*SELECT\s+(?P<fields>.+?)\s+FROM\s+(?P<obj>\w+)"
    r"(?:\s+WHERE\s+(?P<where>.+?))?(?:\s+ORDER\s+BY\s+(?P<order>.+?))?(?:\s+LIMIT\s+(?P<limit>\d+))?\s*$",
    re.I | re.S,
)
_COND = re.compile(r"^\s*(\w+)\s*(>=|<=|=|>|<|!=)\s*('(?:[^'\\]|\\.)*'|\S+)\s*$")


class CrmApp:
    """Request handling, independent of the socket server (one instance per sandbox)."""

    def __init__(self, sandbox_dir: Path, flavor: str, faults: dict | None = None):
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
        self.seeded: dict[str, int] = {}
        if self.store.is_empty():
            self.seeded = load_seed(self.store, self.sandbox_dir / "crm_seed")
            self.seeded["synthetic"] = sum(synthesize(self.store, skip=set(self.seeded)).values())

    # -- plumbing ---------------------------------------------------------------------------
    def count(self, label: str, n: int = 1) -> None:
        with self.stats_lock:
            self.stats[label] += n

    def handle(self, h: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(h.path)
        path, query = unquote(parts.path), parse_qs(parts.query, keep_blank_values=True)
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length) if length else b""
        try:
            if path.startswith("/admin/"):
                self._admin(h, h.command, path, query, body)
            label = self._label(h.command, path)
            self.count(f"{h.command} {label}")
            self.count("api_requests")
            fault = self.faults.take(path)
            if fault and fault.kind in ("429", "500"):
                self.count("faults")
                hdr = {"Retry-After": str(math.ceil(fault.retry_after))} if fault.kind == "429" else {}
                raise _Reply(int(fault.kind), self._error_payload(int(fault.kind), "injected fault"), hdr)
            if fault and fault.kind == "slow" and fault.when == "before":
                time.sleep(fault.seconds)
            try:
                self._route(h, h.command, path, query, body)
                raise _Reply(404, self._error_payload(404, f"no route for {h.command} {path}"))
            finally:
                if fault and fault.kind == "slow" and fault.when == "after":
                    self.count("faults")
                    time.sleep(fault.seconds)
                if fault and fault.kind == "drop":
                    self.count("faults")
                    h.close_connection = True
                    with contextlib.suppress(Exception):
                        h.connection.shutdown(2)
        except _Reply as r:
            self._send(h, r.status, r.payload, r.headers)
        except CrmError as e:
            self._send(h, e.status, self._error_payload(e.status, e.message, e.code))
        except Exception as e:  # noqa: BLE001 - the server must answer, not die
            self._send(h, 500, self._error_payload(500, f"{type(e).__name__}: {e}"))

    def _label(self, method: str, path: str) -> str:
        if path.endswith("openid-configuration"):
            return "discovery"
        if path.endswith("/token"):
            return "token"
        if path.endswith("$batch"):
            return "batch"
        if "/composite/sobjects/" in path:
            return "collections"
        if "/query" in path or (path.startswith(DYN_PREFIX) and method == "GET"):
            return "query"
        return "upsert" if method == "PATCH" else "other"

    def _error_payload(self, status: int, message: str, code: str = "") -> Any:
        if self.flavor == "salesforce":
            return [{"message": message, "errorCode": code or f"HTTP_{status}"}]
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
                payload = [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]
            else:
                payload = self._error_payload(401, "invalid or missing bearer token")
            raise _Reply(401, payload)

    def _issue_token(self) -> str:
        token = secrets.token_urlsafe(32)
        self.tokens.add(token)
        return token

    # -- admin ------------------------------------------------------------------------------
    def _admin(self, h, method: str, path: str, query: dict, body: bytes) -> None:
        if path == "/admin/faults":
            if method == "POST":
                self.faults.add(json.loads(body or b"{}"))
            elif method == "DELETE":
                self.faults.clear()
            raise _Reply(200, self.faults.as_dict())
        if path == "/admin/stats":
            with self.stats_lock:
                raise _Reply(200, dict(self.stats))
        if path == "/admin/stats/reset" and method == "POST":
            with self.stats_lock:
                self.stats.clear()
            raise _Reply(200, {})
        if path == "/admin/records":
            spec = crm_schema.resolve(self.flavor, query.get("entity", [""])[0])
            raise _Reply(200, {"table": spec.name, "records": self.store.all_records(spec)})
        if path == "/admin/touch" and method == "POST":
            req = json.loads(body or b"{}")
            spec = crm_schema.resolve(self.flavor, req["entity"])
            field_name = req.get("field") or next(
                (f for f, (ml, _) in spec.fields.items() if ml and ml >= 40 and f != spec.ext_field), None
            )
            raise _Reply(200, {"ids": self.store.touch(spec, int(req.get("count", 1)), field_name)})
        raise _Reply(404, {"error": f"no admin route {path}"})

    # -- routing ----------------------------------------------------------------------------
    def _route(self, h, method: str, path: str, query: dict, body: bytes) -> None:
        if self.flavor == "dynamics":
            if method == "GET" and path.endswith("/v2.0/.well-known/openid-configuration"):
                tenant = path.strip("/").split("/")[0]
                base = f"{self.url}/{tenant}"
                raise _Reply(
                    200,
                    {
                        "token_endpoint": f"{base}/oauth2/v2.0/token",
                        "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                        "issuer": f"{base}/v2.0",
                        "token_endpoint_auth_methods_supported": ["client_secret_post"],
                    },
                )
            if method == "POST" and path.endswith("/oauth2/v2.0/token"):
                self._token_dynamics(path, body)
            if path.startswith(DYN_PREFIX):
                self._auth(h)
                rest = path[len(DYN_PREFIX) :]
                if method == "POST" and rest == "$batch":
                    self._dyn_batch(h, body)
                if method == "GET":
                    self._dyn_get(h, rest, query)
                if method == "PATCH":
                    msg = odata_batch.HttpMessage(method="PATCH", url=path, headers=_lower(h.headers), body=body)
                    status, headers, payload = self._dyn_patch(msg, None)
                    raise _Reply(status, payload, headers)
        else:
            if method == "POST" and path == "/services/oauth2/token":
                self._token_salesforce(body)
            if path.startswith(SF_PREFIX):
                self._auth(h)
                rest = path[len(SF_PREFIX) :]
                if method == "GET" and rest.rstrip("/") == "query":
                    self._sf_query(h, query.get("q", [""])[0], None)
                if method == "GET" and rest.startswith("query/"):
                    self._sf_query(h, "", rest[len("query/") :])
                if method == "PATCH" and rest.startswith("composite/sobjects/"):
                    obj, ext_field = rest[len("composite/sobjects/") :].strip("/").split("/")
                    self._sf_collection_upsert(obj, ext_field, json.loads(body or b"{}"))

    # -- Dynamics ---------------------------------------------------------------------------
    def _token_dynamics(self, path: str, body: bytes) -> None:
        form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
        if (
            form.get("grant_type") != "client_credentials"
            or form.get("client_id") != self.creds["client_id"]
            or form.get("client_secret") != self.creds["client_secret"]
        ):
            raise _Reply(401, {"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client"})
        raise _Reply(200, {"token_type": "Bearer", "expires_in": 3599, "access_token": self._issue_token()})

    def _dyn_render(self, spec: crm_schema.TableSpec, rec: dict, select: list[str] | None) -> dict:
        out = {k: rec.get(k) for k in select} if select else dict(rec)
        out[spec.id_field] = rec[spec.id_field]
        if spec.modified_field in out:  # Dataverse shows whole seconds
            out[spec.modified_field] = parse_ts(rec[spec.modified_field]).strftime("%Y-%m-%dT%H:%M:%SZ")
        return {"@odata.etag": f'W/"{abs(hash(rec[spec.modified_field])) % 10**8}"', **out}

    def _dyn_get(self, h, rest: str, query: dict) -> None:
        sets = crm_schema.by_entity_set(self.flavor)
        m = _KEY.match(rest)
        if m:
            spec = sets.get(m.group(1))
            if not spec:
                raise _Reply(404, self._error_payload(404, f"Resource not found for the segment '{m.group(1)}'"))
            found = self.store.get(spec, self._dyn_key(spec, m.group(2)))
            if not found:
                raise _Reply(404, self._error_payload(404, f"{spec.name} does not exist"))
            raise _Reply(200, self._dyn_render(spec, found[1], None))
        spec = sets.get(rest)
        if not spec:
            raise _Reply(404, self._error_payload(404, f"Resource not found for the segment '{rest}'"))
        select = [s.strip() for s in query.get("$select", [""])[0].split(",") if s.strip()] or None
        since = None
        flt = query.get("$filter", [""])[0].strip()
        if flt:
            fm = re.match(rf"^{spec.modified_field}\s+(ge|gt)\s+(\S+)$", flt)
            if not fm:
                raise _Reply(400, self._error_payload(400, f"unsupported $filter: {flt}"))
            since = parse_ts(fm.group(2))
            if fm.group(1) == "gt":
                since += timedelta(microseconds=1)
        prefer = h.headers.get("Prefer", "")
        pm = re.search(r"odata\.maxpagesize=(\d+)", prefer)
        page = int(pm.group(1)) if pm else DEFAULT_DYN_PAGE
        skip = query.get("$skiptoken", [""])[0]
        after = tuple(_unb64(skip)) if skip else None
        rows = self.store.changes(spec, since, after, page + 1)
        more = len(rows) > page
        rows = rows[:page]
        self.count("records_read", len(rows))
        payload: dict[str, Any] = {
            "@odata.context": f"{self.url}{DYN_PREFIX}$metadata#{spec.entity_set}",
            "value": [self._dyn_render(spec, r, select) for r in rows],
        }
        if more:
            last = rows[-1]
            params = {k: v[0] for k, v in query.items() if k != "$skiptoken"}
            params["$skiptoken"] = _b64([iso(parse_ts(last[spec.modified_field])), last[spec.id_field]])
            payload["@odata.nextLink"] = f"{self.url}{DYN_PREFIX}{spec.entity_set}?{urlencode(params)}"
        headers = {"Preference-Applied": f"odata.maxpagesize={page}"} if pm else {}
        raise _Reply(200, payload, headers)

    def _dyn_key(self, spec: crm_schema.TableSpec, inner: str) -> Ref:
        inner = inner.strip()
        m = re.match(r"^(\w+)\s*=\s*'((?:[^']|'')*)'$", inner)
        if m:
            return Ref("ext", m.group(2).replace("''", "'"), m.group(1))
        return Ref("id", inner.strip("'"))

    def _dyn_bind(self, value: str) -> tuple[str, Ref]:
        path = urlsplit(value).path if "://" in value else value
        path = path.split(DYN_PREFIX, 1)[-1].lstrip("/")
        m = _KEY.match(path)
        sets = crm_schema.by_entity_set(self.flavor)
        if not m or m.group(1) not in sets:
            raise CrmError(400, "0x80048d19", f"invalid @odata.bind value {value!r}")
        spec = sets[m.group(1)]
        return spec.name, self._dyn_key(spec, m.group(2))

    def _dyn_write(self, msg: odata_batch.HttpMessage) -> tuple[crm_schema.TableSpec, Write]:
        rest = unquote(msg.url.split(DYN_PREFIX, 1)[-1].split("?", 1)[0])
        m = _KEY.match(rest)
        sets = crm_schema.by_entity_set(self.flavor)
        if msg.method != "PATCH" or not m or m.group(1) not in sets:
            raise CrmError(400, "0x80060888", f"unsupported request {msg.method} {rest}")
        spec = sets[m.group(1)]
        key = self._dyn_key(spec, m.group(2))
        raw = json.loads(msg.body or b"{}")
        body, binds = {}, []
        for k, v in raw.items():
            if k.endswith("@odata.bind"):
                nav = k[: -len("@odata.bind")]
                target, ref = self._dyn_bind(v)
                binds.append((nav, target, ref))
            elif not k.startswith("@"):
                body[k] = v
        mode = "upsert"
        if msg.headers.get("if-match") == "*":
            mode = "update"
        elif msg.headers.get("if-none-match") == "*":
            mode = "create"
        ext = key.value if key.kind == "ext" else body.get(spec.ext_field or "")
        if ext is not None and ext in self.faults.record_errors:
            raise CrmError(400, "0x80040265", self.faults.record_errors[ext])
        return spec, Write(key=key, body=body, binds=binds, mode=mode)

    def _dyn_patch(self, msg: odata_batch.HttpMessage, con, cache: dict | None = None) -> tuple[int, dict, Any]:
        """Apply one PATCH (inside ``con``'s transaction, or its own) → (status, headers, payload)."""
        spec, w = self._dyn_write(msg)
        if con is None:
            with self.store.transaction() as c:
                rid, created, rec = self.store.apply(c, spec, w, cache)
        else:
            rid, created, rec = self.store.apply(con, spec, w, cache)
        self.count("records_written")
        headers = {"OData-EntityId": f"{self.url}{DYN_PREFIX}{spec.entity_set}({rid})"}
        if "return=representation" in msg.headers.get("prefer", ""):
            query = msg.url.split("?", 1)[1] if "?" in msg.url else ""
            sel = parse_qs(query).get("$select", [""])[0] if "$select" in query else ""
            select = [s for s in sel.split(",") if s] or None
            return (201 if created else 200), headers, self._dyn_render(spec, rec, select)
        return 204, headers, None

    def _dyn_batch(self, h, body: bytes) -> None:
        parts = odata_batch.parse_multipart(h.headers.get("Content-Type", ""), body)
        n = sum(len(p.children) if p.is_multipart else 1 for p in parts)
        if n > MAX_BATCH_REQUESTS:
            raise _Reply(400, self._error_payload(400, f"batch has {n} requests; the maximum is 1000"))
        continue_on_error = "odata.continue-on-error" in h.headers.get("Prefer", "")
        out: list[odata_batch.HttpMessage | list[odata_batch.HttpMessage]] = []
        cache: dict = {}
        stop = False
        for p in parts:
            if stop:
                break
            if p.is_multipart:
                msgs = [odata_batch.parse_http(c) for c in p.children]
                responses = []
                failed: odata_batch.HttpMessage | None = None
                with self.store.transaction() as con:
                    con.execute("savepoint cs")
                    for m in msgs:
                        try:
                            responses.append(self._batch_response(m, *self._dyn_patch(m, con)))
                        except CrmError as e:
                            failed = self._batch_error(m, e)
                            break
                    if failed:
                        con.execute("rollback to cs")
                    con.execute("release cs")
                if failed:
                    out.append(failed)  # a failed change set answers with the failing request only
                    stop = not continue_on_error
                else:
                    out.append(responses)
                if failed:
                    cache.clear()
            else:
                m = odata_batch.parse_http(p)
                with self.store.transaction() as con:
                    con.execute("savepoint one")
                    try:
                        out.append(self._batch_response(m, *self._dyn_patch(m, con, cache)))
                        con.execute("release one")
                    except CrmError as e:
                        con.execute("rollback to one")
                        con.execute("release one")
                        out.append(self._batch_error(m, e))
                        stop = not continue_on_error
        ctype, data = odata_batch.build(out, request=False)
        raise _Reply(200, data, {"Content-Type": ctype})

    def _batch_response(
        self, m: odata_batch.HttpMessage, status: int, headers: dict, payload: Any
    ) -> odata_batch.HttpMessage:
        body = json.dumps(payload).encode() if payload is not None else b""
        if body:
            headers = {**headers, "Content-Type": "application/json; odata.metadata=minimal"}
        return odata_batch.HttpMessage(status=status, headers=headers, body=body, content_id=m.content_id)

    def _batch_error(self, m: odata_batch.HttpMessage, e: CrmError) -> odata_batch.HttpMessage:
        body = json.dumps(self._error_payload(e.status, e.message, e.code)).encode()
        return odata_batch.HttpMessage(
            status=e.status, headers={"Content-Type": "application/json"}, body=body, content_id=m.content_id
        )

    # -- Salesforce -------------------------------------------------------------------------
    def _token_salesforce(self, body: bytes) -> None:
        form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
        c = self.creds
        ok_client = form.get("client_id") == c["client_id"] and form.get("client_secret") == c["client_secret"]
        grant = form.get("grant_type")
        if grant == "password":
            ok = ok_client and form.get("username") == c["username"]
            ok = ok and form.get("password") == c["password"] + c["security_token"]
        else:
            ok = grant == "client_credentials" and ok_client
        if not ok:
            raise _Reply(400, {"error": "invalid_grant", "error_description": "authentication failure"})
        raise _Reply(
            200,
            {
                "access_token": self._issue_token(),
                "instance_url": self.url,
                "id": f"{self.url}/id/00D000000000001/005000000000001",
                "token_type": "Bearer",
                "issued_at": str(int(time.time() * 1000)),
                "signature": secrets.token_urlsafe(16),
            },
        )

    def _sf_render(self, spec: crm_schema.TableSpec, rec: dict, fields: list[str]) -> dict:
        out: dict[str, Any] = {
            "attributes": {"type": spec.name, "url": f"{SF_PREFIX}sobjects/{spec.name}/{rec[spec.id_field]}"}
        }
        for f in fields:
            v = rec.get(f)
            if f == spec.modified_field:
                v = parse_ts(v).strftime("%Y-%m-%dT%H:%M:%S.") + f"{parse_ts(v).microsecond // 1000:03d}+0000"
            out[f] = v
        return out

    def _sf_query(self, h, soql: str, token: str | None) -> None:
        if token:
            state = _unb64(token.split("-", 1)[0])
            soql, after, page = state["q"], tuple(state["after"]), state["page"]
        else:
            after = None
            om = re.search(r"batchSize=(\d+)", h.headers.get("Sforce-Query-Options", ""))
            page = max(200, min(2000, int(om.group(1)))) if om else DEFAULT_SF_PAGE
        m = _SOQL.match(soql)
        if not m:
            raise _Reply(400, [{"message": f"unsupported SOQL: {soql[:200]}", "errorCode": "MALFORMED_QUERY"}])
        try:
            spec = crm_schema.resolve(self.flavor, m.group("obj"))
        except KeyError:
            raise _Reply(
                400, [{"message": f"sObject type '{m.group('obj')}' is not supported", "errorCode": "INVALID_TYPE"}]
            ) from None
        fields = [f.strip() for f in m.group("fields").split(",")]
        since, equals = None, []
        if m.group("where"):
            for cond in re.split(r"\s+AND\s+", m.group("where"), flags=re.I):
                cm = _COND.match(cond)
                if not cm:
                    raise _Reply(400, [{"message": f"unsupported condition: {cond}", "errorCode": "MALFORMED_QUERY"}])
                f, op, v = cm.groups()
                if f == spec.modified_field and op in (">=", ">"):
                    since = parse_ts(v)
                    if op == ">":
                        since += timedelta(microseconds=1)
                elif op == "=":
                    equals.append((f, v.strip("'")))
                else:
                    raise _Reply(400, [{"message": f"unsupported condition: {cond}", "errorCode": "MALFORMED_QUERY"}])
        records: list[dict] = []
        cursor = after
        more = False
        while len(records) < page:  # equality filters are applied after the indexed range read
            chunk = self.store.changes(spec, since, cursor, page + 1)
            if not chunk:
                break
            for r in chunk:
                cursor = (iso(parse_ts(r[spec.modified_field])), r[spec.id_field])
                if all(str(r.get(f)) == v for f, v in equals):
                    if len(records) == page:
                        more = True
                        break
                    records.append(r)
            if more or len(chunk) <= page:
                break
        self.count("records_read", len(records))
        payload: dict[str, Any] = {
            "totalSize": len(records),
            "done": not more,
            "records": [self._sf_render(spec, r, fields) for r in records],
        }
        if more:
            last = records[-1]
            tok = _b64(
                {"q": soql, "after": [iso(parse_ts(last[spec.modified_field])), last[spec.id_field]], "page": page}
            )
            payload["nextRecordsUrl"] = f"{SF_PREFIX}query/{tok}-{page}"
        raise _Reply(200, payload)

    def _sf_collection_upsert(self, obj: str, ext_field: str, req: dict) -> None:
        try:
            spec = crm_schema.resolve(self.flavor, obj)
        except KeyError:
            raise _Reply(
                404, [{"message": f"The requested resource does not exist: {obj}", "errorCode": "NOT_FOUND"}]
            ) from None
        records = req.get("records") or []
        if len(records) > MAX_COLLECTION_RECORDS:
            raise _Reply(400, [{"message": "EXCEEDED_ID_LIMIT: record limit is 200", "errorCode": "EXCEEDED_ID_LIMIT"}])
        if ext_field not in ("Id", spec.ext_field):
            raise _Reply(
                404,
                [
                    {
                        "message": f"Provided external ID field does not exist or is not accessible: {ext_field}",
                        "errorCode": "NOT_FOUND",
                    }
                ],
            )
        all_or_none = bool(req.get("allOrNone"))
        results: list[dict] = []
        cache: dict = {}
        failed_any = False
        with self.store.transaction() as con:
            con.execute("savepoint coll")
            for rec in records:
                con.execute("savepoint one")
                try:
                    spec_w = self._sf_write(spec, ext_field, rec)
                    rid, created, _ = self.store.apply(con, spec, spec_w, cache)
                    self.count("records_written")
                    results.append({"id": rid, "success": True, "errors": [], "created": created})
                    con.execute("release one")
                except CrmError as e:
                    con.execute("rollback to one")
                    con.execute("release one")
                    failed_any = True
                    results.append(
                        {
                            "id": None,
                            "success": False,
                            "errors": [{"statusCode": e.code, "message": e.message, "fields": e.fields}],
                        }
                    )
            if all_or_none and failed_any:
                con.execute("rollback to coll")
                results = [
                    r
                    if not r["success"]
                    else {
                        "id": None,
                        "success": False,
                        "errors": [
                            {
                                "statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK",
                                "message": "Record rolled back "
                                "because not all records were valid and the request was using AllOrNone header",
                                "fields": [],
                            }
                        ],
                    }
                    for r in results
                ]
            con.execute("release coll")
        raise _Reply(200, results)

    def _sf_write(self, spec: crm_schema.TableSpec, ext_field: str, rec: dict) -> Write:
        attrs = rec.get("attributes") or {}
        if attrs.get("type") not in (None, spec.name):
            raise CrmError(400, "INVALID_TYPE", f"record type {attrs.get('type')} does not match {spec.name}")
        key_value = rec.get(ext_field)
        if key_value in (None, ""):
            raise CrmError(400, "MISSING_ARGUMENT", f"{ext_field} not specified", [ext_field])
        if str(key_value) in self.faults.record_errors:
            raise CrmError(400, "FIELD_CUSTOM_VALIDATION_EXCEPTION", self.faults.record_errors[str(key_value)])
        body, binds = {}, []
        for k, v in rec.items():
            if k in ("attributes", ext_field):
                continue
            lk = spec.lookup_for_write(k)
            if lk is not None:
                if v is None:
                    body[lk.stored_as] = None
                elif isinstance(v, dict):
                    ((kf, kv),) = [(a, b) for a, b in v.items() if a != "attributes"]
                    binds.append((k, lk.target, Ref("id", kv) if kf == "Id" else Ref("ext", kv, kf)))
                else:
                    binds.append((k, lk.target, Ref("id", str(v))))
            else:
                body[k] = v
        key = Ref("id", str(key_value)) if ext_field == "Id" else Ref("ext", str(key_value), ext_field)
        return Write(key=key, body=body, binds=binds, mode="upsert")


def _lower(headers) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 120

    def _do(self) -> None:
        self.server.app.handle(self)  # type: ignore[attr-defined]

    do_GET = do_POST = do_PATCH = do_DELETE = _do

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet: logs would hold URLs
        return


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, addr, app: CrmApp, context: ssl.SSLContext):
        super().__init__(addr, _Handler)
        self.app = app
        self.context = context

    def get_request(self):
        sock, addr = self.socket.accept()
        # TLS handshake happens in the request thread, so a slow client cannot stall accept().
        return self.context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), addr

    def finish_request(self, request, client_address) -> None:
        try:
            request.do_handshake()
        except (ssl.SSLError, OSError):
            return
        super().finish_request(request, client_address)


class CrmSandbox:
    """Run the sandbox CRM on https://127.0.0.1:<port> in a background thread (context manager).

    ``.url`` is the API base (Dynamics: also the authority host), ``.credentials`` the dict the
    pull/push take (client id/secret, tenant, ``ca_bundle`` = this sandbox's certificate).
    """

    def __init__(
        self,
        sandbox_dir: Path,
        flavor: str = "dynamics",
        host: str = "127.0.0.1",
        port: int = 0,
        faults: dict | None = None,
    ):
        self.sandbox_dir = Path(sandbox_dir)
        self.flavor = flavor
        self.host, self.port = require_loopback(host), port
        self._faults = faults
        self.app: CrmApp | None = None
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> CrmSandbox:
        self.sandbox_dir.mkdir(parents=True, exist_ok=True)
        cert, key = ensure_certificate(self.sandbox_dir / "crm_tls")
        self.ca_cert = cert
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        self.app = CrmApp(self.sandbox_dir, self.flavor, self._faults)
        self._server = _Server((self.host, self.port), self.app, ctx)
        self.port = self._server.server_address[1]
        self.url = f"https://{self.host}:{self.port}"
        self.app.url = self.url
        self._thread = threading.Thread(target=self._server.serve_forever, name="crm-sandbox", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self.app:
            self.app.store.close()

    def __enter__(self) -> CrmSandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- convenience for callers and tests ---------------------------------------------------
    @property
    def store(self) -> CrmStore:
        assert self.app is not None
        return self.app.store

    @property
    def client_id(self) -> str:
        return self.app.creds["client_id"]  # type: ignore[union-attr]

    @property
    def client_secret(self) -> str:
        return self.app.creds["client_secret"]  # type: ignore[union-attr]

    @property
    def credentials(self) -> dict[str, str]:
        c = self.app.creds  # type: ignore[union-attr]
        out = {"client_id": c["client_id"], "client_secret": c["client_secret"], "ca_bundle": str(self.ca_cert)}
        if self.flavor == "dynamics":
            out["tenant_id"] = c["tenant_id"]
        else:
            out.update(username=c["username"], password=c["password"], security_token=c["security_token"])
        return out

    def stats(self) -> dict[str, int]:
        with self.app.stats_lock:  # type: ignore[union-attr]
            return dict(self.app.stats)  # type: ignore[union-attr]

    def reset_stats(self) -> None:
        with self.app.stats_lock:  # type: ignore[union-attr]
            self.app.stats.clear()  # type: ignore[union-attr]

    def add_faults(self, spec: dict) -> None:
        self.app.faults.add(spec)  # type: ignore[union-attr]

    def clear_faults(self) -> None:
        self.app.faults.clear()  # type: ignore[union-attr]

    def records(self, entity: str) -> list[dict[str, Any]]:
        spec = crm_schema.resolve(self.flavor, entity)
        return self.store.all_records(spec)


def main(argv: list[str]) -> int:
    """``python -m sandbox.crm_api <sandbox_dir> <dynamics|salesforce> [port]``: serve until Ctrl-C."""
    if len(argv) < 2:
        print(main.__doc__)
        return 2
    sb = CrmSandbox(Path(argv[0]), argv[1], port=int(argv[2]) if len(argv) > 2 else 0).start()
    print(f"sandbox CRM ({argv[1]}) at {sb.url}; credentials in {sb.sandbox_dir}/crm_{argv[1]}_credentials.json")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        sb.stop()
    return 0


if __name__ == "__main__":
    import sys

    raise SystemExit(main(sys.argv[1:]))
