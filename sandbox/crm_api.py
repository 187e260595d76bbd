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
Metadata (both flavours, see ``crm_metadata``): Dataverse ``EntityDefinitions`` (+ ``/Attributes``),
the service document and ``$metadata``; Salesforce ``sobjects/`` and ``sobjects/{Object}/describe``.
Single records: Dataverse ``POST {set}`` (create), Salesforce ``PATCH sobjects/{Object}/{ExtId}/{v}``.
Admin (sandbox only, no auth): ``POST/GET/DELETE /admin/faults``, ``GET /admin/stats``,
``POST /admin/revoke_tokens`` (every session expires),
``POST /admin/stats/reset``, ``GET /admin/records?entity=``, ``GET /admin/record_keys?entity=`` (ids
and external keys only), ``POST /admin/touch``,
``GET /admin/ground_truth`` (the generator's ``ground_truth.csv``: record_id, person_id).

Records live in ``<sandbox_dir>/crm_<flavor>.sqlite`` (see ``crm_store``) and are validated like a
CRM would (``crm_schema``). An empty store is seeded from ``<sandbox_dir>/crm_seed/`` plus a few
synthetic records per CRM-owned entity (``crm_preload``).
"""

from __future__ import annotations

import contextlib
import csv
import json
import math
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from kore.contracts import odata_batch
from sandbox import crm_schema
from sandbox.crm_core import DYN_PREFIX, SF_PREFIX, Reply, lower_headers
from sandbox.crm_dynamics import DynamicsApi
from sandbox.crm_salesforce import SalesforceApi
from sandbox.crm_server import TlsHttpServer
from sandbox.crm_store import CrmError, CrmStore
from sandbox.crm_tls import ensure_certificate
from sandbox.loopback import require_loopback, stop_on_interrupt


class CrmApp(DynamicsApi, SalesforceApi):
    """Request handling, independent of the socket server (one instance per sandbox).

    The state and plumbing are :class:`sandbox.crm_core.CrmCore`'s, the flavours' handlers
    :class:`sandbox.crm_dynamics.DynamicsApi`'s and :class:`sandbox.crm_salesforce.SalesforceApi`'s;
    this class routes a request to them (and serves the admin routes).
    """

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
                raise Reply(int(fault.kind), self._error_payload(int(fault.kind), "injected fault"), hdr)
            if fault and fault.kind == "slow" and fault.when == "before":
                time.sleep(fault.seconds)
            try:
                self._route(h, h.command, path, query, body)
                raise Reply(404, self._error_payload(404, f"no route for {h.command} {path}"))
            finally:
                if fault and fault.kind == "slow" and fault.when == "after":
                    self.count("faults")
                    time.sleep(fault.seconds)
                if fault and fault.kind == "drop":
                    self.count("faults")
                    h.close_connection = True
                    with contextlib.suppress(Exception):
                        h.connection.shutdown(2)
        except Reply as r:
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

    # -- admin ------------------------------------------------------------------------------
    def _admin(self, h, method: str, path: str, query: dict, body: bytes) -> None:
        if path == "/admin/faults":
            if method == "POST":
                self.faults.add(json.loads(body or b"{}"))
            elif method == "DELETE":
                self.faults.clear()
            raise Reply(200, self.faults.as_dict())
        if path == "/admin/stats":
            with self.stats_lock:
                raise Reply(200, dict(self.stats))
        if path == "/admin/stats/reset" and method == "POST":
            with self.stats_lock:
                self.stats.clear()
            raise Reply(200, {})
        if path == "/admin/records":
            spec = crm_schema.resolve(self.flavor, query.get("entity", [""])[0])
            raise Reply(200, {"table": spec.name, "records": self.store.all_records(spec)})
        if path == "/admin/record_keys":
            spec = crm_schema.resolve(self.flavor, query.get("entity", [""])[0])
            ids, external_keys = self.store.record_keys(spec)
            raise Reply(200, {"table": spec.name, "ids": ids, "external_keys": external_keys})
        if path == "/admin/revoke_tokens" and method == "POST":  # sessions expire: clients must re-authenticate
            self.tokens.clear()
            raise Reply(200, {})
        if path == "/admin/ground_truth":  # the generator's truth (record_id, person_id), for audits
            raise Reply(200, {"records": ground_truth(self.sandbox_dir)})
        if path == "/admin/touch" and method == "POST":
            req = json.loads(body or b"{}")
            spec = crm_schema.resolve(self.flavor, req["entity"])
            field_name = req.get("field") or next(
                (f for f, (ml, _) in spec.fields.items() if ml and ml >= 40 and f != spec.ext_field), None
            )
            raise Reply(200, {"ids": self.store.touch(spec, int(req.get("count", 1)), field_name)})
        raise Reply(404, {"error": f"no admin route {path}"})

    # -- routing ----------------------------------------------------------------------------
    def _route(self, h, method: str, path: str, query: dict, body: bytes) -> None:
        if self.flavor == "dynamics":
            if method == "GET" and path.endswith("/v2.0/.well-known/openid-configuration"):
                tenant = path.strip("/").split("/")[0]
                base = f"{self.url}/{tenant}"
                raise Reply(
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
                if method == "POST" and "/" not in rest and "(" not in rest:
                    self._dyn_create(rest, lower_headers(h.headers), body)
                if method == "PATCH":
                    msg = odata_batch.HttpMessage(method="PATCH", url=path, headers=lower_headers(h.headers), body=body)
                    status, headers, payload = self._dyn_patch(msg, None)
                    raise Reply(status, payload, headers)
        else:
            if method == "POST" and path == "/services/oauth2/token":
                self._token_salesforce(h, body)
            if path.startswith(SF_PREFIX):
                self._auth(h)
                rest = path[len(SF_PREFIX) :]
                if method == "GET" and rest.rstrip("/") == "query":
                    self._sf_query(h, query.get("q", [""])[0], None)
                if method == "GET" and rest.startswith("query/"):
                    self._sf_query(h, "", rest[len("query/") :])
                if method == "GET" and (rest.strip("/") == "sobjects" or rest.endswith("/describe")):
                    self._sf_describe(rest)
                if method == "PATCH" and rest.startswith("sobjects/") and rest.count("/") == 3:
                    _, obj, ext_field, value = rest.split("/", 3)
                    self._sf_upsert_one(obj, ext_field, value, json.loads(body or b"{}"))
                if method == "PATCH" and rest.startswith("composite/sobjects/"):
                    obj, ext_field = rest[len("composite/sobjects/") :].strip("/").split("/")
                    self._sf_collection_upsert(obj, ext_field, json.loads(body or b"{}"))


def ground_truth(sandbox_dir: Path) -> list[dict[str, str]]:
    """(record_id, person_id) of the generator's ground truth in this sandbox (empty without one)."""
    path = Path(sandbox_dir) / "ground_truth.csv"
    if not path.exists():
        return []
    with open(path, newline="", encoding="utf-8") as fh:
        return [{"record_id": r["record_id"], "person_id": r["person_id"]} for r in csv.DictReader(fh)]


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
        entity_sets: dict[str, str] | None = None,
    ):
        self.sandbox_dir = Path(sandbox_dir)
        self._entity_sets = entity_sets
        self.flavor = flavor
        self.host, self.port = require_loopback(host), port
        self._faults = faults
        self.app: CrmApp | None = None
        self._server: TlsHttpServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> CrmSandbox:
        self.sandbox_dir.mkdir(parents=True, exist_ok=True)
        cert, key = ensure_certificate(self.sandbox_dir / "crm_tls")
        self.ca_cert = cert
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        self.app = CrmApp(self.sandbox_dir, self.flavor, self._faults, self._entity_sets)
        self._server = TlsHttpServer((self.host, self.port), self.app, ctx)
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
            out.update(tenant_id=c["tenant_id"], authority=f"{self.url}/{c['tenant_id']}")
        else:
            out.update(username=c["username"], password=c["password"], security_token=c["security_token"])
            out["private_key_file"] = str(self.app.jwt_key)  # type: ignore[union-attr]
        return out

    def revoke_tokens(self) -> None:
        """Expire every access token issued so far (a client must get a new one on its next 401)."""
        self.app.tokens.clear()  # type: ignore[union-attr]

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


def serve(sandbox_dir: Path, flavor: str = "dynamics", port: int = 0, host: str = "127.0.0.1") -> None:
    """Run the sandbox CRM until interrupted (``kore sandbox serve crm``): Ctrl-C or SIGTERM."""
    stop_on_interrupt()
    sb = CrmSandbox(Path(sandbox_dir), flavor, host=host, port=port).start()
    print(f"sandbox CRM ({flavor}) at {sb.url}; credentials in {sb.sandbox_dir}/crm_{flavor}_credentials.json")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        sb.stop()


def main(argv: list[str]) -> int:
    """``python -m sandbox.crm_api <sandbox_dir> <dynamics|salesforce> [port]``: serve until Ctrl-C."""
    if len(argv) < 2:
        print(main.__doc__)
        return 2
    serve(Path(argv[0]), argv[1], port=int(argv[2]) if len(argv) > 2 else 0)
    return 0


if __name__ == "__main__":
    import sys

    raise SystemExit(main(sys.argv[1:]))
