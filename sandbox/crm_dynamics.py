"""The Dynamics 365 Web API subset of the sandbox CRM (flavor ``dynamics``).

Token endpoint (client credentials), ``GET`` of an entity set (``$select``, ``$filter=modifiedon
ge|gt <ts>``, ``Prefer: odata.maxpagesize``, ``@odata.nextLink`` with an opaque ``$skiptoken``) or
of one record by id or alternate key, ``PATCH`` upsert (``If-Match: *`` = update only,
``If-None-Match: *`` = create only, ``@odata.bind`` lookups) and ``$batch`` (change sets are
transactional; ``odata.continue-on-error``). The encoding of ``$batch`` is the contract
``kore.contracts.odata_batch``; routing is in :mod:`sandbox.crm_api`.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

from kore.contracts import odata_batch
from sandbox import crm_metadata, crm_schema
from sandbox.crm_core import DYN_PREFIX, CrmCore, Reply, b64, unb64
from sandbox.crm_store import CrmError, Ref, Write, iso, parse_ts

MAX_BATCH_REQUESTS = 1000
DEFAULT_DYN_PAGE = 5000

_KEY = re.compile(r"^([A-Za-z0-9_]+)\((.*)\)$")


class DynamicsApi(CrmCore):
    """The Dynamics handlers (mixed into :class:`sandbox.crm_api.CrmApp`)."""

    def _token_dynamics(self, path: str, body: bytes) -> None:
        form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
        if (
            form.get("grant_type") != "client_credentials"
            or form.get("client_id") != self.creds["client_id"]
            or form.get("client_secret") != self.creds["client_secret"]
        ):
            raise Reply(401, {"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client"})
        raise Reply(200, {"token_type": "Bearer", "expires_in": 3599, "access_token": self._issue_token()})

    def _dyn_render(self, spec: crm_schema.TableSpec, rec: dict, select: list[str] | None) -> dict:
        out = {k: rec.get(k) for k in select} if select else dict(rec)
        out[spec.id_field] = rec[spec.id_field]
        if spec.modified_field in out:  # Dataverse shows whole seconds
            out[spec.modified_field] = parse_ts(rec[spec.modified_field]).strftime("%Y-%m-%dT%H:%M:%SZ")
        return {"@odata.etag": f'W/"{abs(hash(rec[spec.modified_field])) % 10**8}"', **out}

    def _dyn_metadata(self, rest: str, query: dict) -> None:
        """Table definitions (``EntityDefinitions``, ``/Attributes``), the service document and the
        CSDL ``$metadata`` (see :mod:`sandbox.crm_metadata` for the documentation followed)."""
        tables = crm_schema.tables(self.flavor)
        if rest == "$metadata":
            body = crm_metadata.csdl([(t, self.set_names[n]) for n, t in tables.items()])
            raise Reply(200, body, {"Content-Type": "application/xml", "OData-Version": "4.0"})
        if rest == "":
            sets = [{"name": s, "kind": "EntitySet", "url": s} for s in self.set_names.values()]
            raise Reply(200, {"@odata.context": f"{self.url}{DYN_PREFIX}$metadata", "value": sets})
        m = re.match(r"^EntityDefinitions(?:\((?:LogicalName='([^']*)'|([0-9a-f-]{36}))\))?(/Attributes.*)?$", rest)
        if not m:
            return
        entities = {n: crm_metadata.dyn_entity(t, self.set_names[n]) for n, t in tables.items()}
        if m.group(1) or m.group(2):
            name = m.group(1) or next((n for n, e in entities.items() if e["MetadataId"] == m.group(2)), "")
            if name not in entities:
                raise Reply(
                    404, self._error_payload(404, f"Could not find an entity with key {m.group(1) or m.group(2)}")
                )
            if m.group(3):
                attrs = [] if "PicklistAttributeMetadata" in m.group(3) else crm_metadata.dyn_attributes(tables[name])
                attrs = [crm_metadata.select(a, query.get("$select", [""])[0]) for a in attrs]
                raise Reply(200, {"@odata.context": f"{self.url}{DYN_PREFIX}$metadata#Attributes", "value": attrs})
            raise Reply(200, crm_metadata.select(entities[name], query.get("$select", [""])[0]))
        try:
            found = crm_metadata.dyn_filter(list(entities.values()), query.get("$filter", [""])[0])
        except ValueError as e:
            raise Reply(400, self._error_payload(400, str(e), "0x80060888")) from None
        value = [crm_metadata.select(e, query.get("$select", [""])[0]) for e in found]
        raise Reply(200, {"@odata.context": f"{self.url}{DYN_PREFIX}$metadata#EntityDefinitions", "value": value})

    def _dyn_create(self, rest: str, headers: dict, body: bytes) -> None:
        """``POST {entityset}`` on its own (outside ``$batch``)."""
        msg = odata_batch.HttpMessage(method="POST", url=f"{DYN_PREFIX}{rest}", headers=headers, body=body)
        with self.store.transaction() as con:
            status, out_headers, payload = self._dyn_post(msg, con)
        raise Reply(status, payload, out_headers)

    def _dyn_post(self, msg: odata_batch.HttpMessage, con) -> tuple[int, dict, Any]:
        """Create one record (``POST {entityset}``, alone or in a ``$batch``) → (status, headers,
        payload): 204 with ``OData-EntityId``, or 201 and the record with ``Prefer:
        return=representation``, as the Web API documents for create."""
        rest = unquote(msg.url.split(DYN_PREFIX, 1)[-1].split("?", 1)[0])
        spec = self.by_set.get(rest)
        if spec is None:
            raise CrmError(404, "0x80060888", f"Resource not found for the segment '{rest}'")
        as_patch = odata_batch.HttpMessage(
            method="PATCH", url=f"{DYN_PREFIX}{rest}(x)", headers=msg.headers, body=msg.body
        )
        ext = json.loads(msg.body or b"{}").get(spec.ext_field or "")
        _, w = self._dyn_write(as_patch)
        w.key = Ref("ext", str(ext), spec.ext_field) if ext not in (None, "") else None
        w.mode = "create"
        rid, _, rec = self.store.apply(con, spec, w)
        self.count("records_written")
        loc = {"OData-EntityId": f"{self.url}{DYN_PREFIX}{rest}({rid})"}
        if "return=representation" in msg.headers.get("prefer", ""):
            return 201, loc, self._dyn_render(spec, rec, None)
        return 204, loc, None

    def _dyn_get(self, h, rest: str, query: dict) -> None:
        self._dyn_metadata(rest, query)
        sets = self.by_set
        m = _KEY.match(rest)
        if m:
            spec = sets.get(m.group(1))
            if not spec:
                raise Reply(404, self._error_payload(404, f"Resource not found for the segment '{m.group(1)}'"))
            found = self.store.get(spec, self._dyn_key(spec, m.group(2)))
            if not found:
                raise Reply(404, self._error_payload(404, f"{spec.name} does not exist"))
            raise Reply(200, self._dyn_render(spec, found[1], None))
        spec = sets.get(rest)
        if not spec:
            raise Reply(404, self._error_payload(404, f"Resource not found for the segment '{rest}'"))
        select = [s.strip() for s in query.get("$select", [""])[0].split(",") if s.strip()] or None
        since = None
        flt = query.get("$filter", [""])[0].strip()
        if flt:
            fm = re.match(rf"^{spec.modified_field}\s+(ge|gt)\s+(\S+)$", flt)
            if not fm:
                raise Reply(400, self._error_payload(400, f"unsupported $filter: {flt}"))
            since = parse_ts(fm.group(2))
            if fm.group(1) == "gt":
                since += timedelta(microseconds=1)
        prefer = h.headers.get("Prefer", "")
        pm = re.search(r"odata\.maxpagesize=(\d+)", prefer)
        page = int(pm.group(1)) if pm else DEFAULT_DYN_PAGE
        skip = query.get("$skiptoken", [""])[0]
        after = tuple(unb64(skip)) if skip else None
        rows = self.store.changes(spec, since, after, page + 1)
        more = len(rows) > page
        rows = rows[:page]
        self.count("records_read", len(rows))
        payload: dict[str, Any] = {
            "@odata.context": f"{self.url}{DYN_PREFIX}$metadata#{self.set_names[spec.name]}",
            "value": [self._dyn_render(spec, r, select) for r in rows],
        }
        if more:
            last = rows[-1]
            params = {k: v[0] for k, v in query.items() if k != "$skiptoken"}
            params["$skiptoken"] = b64([iso(parse_ts(last[spec.modified_field])), last[spec.id_field]])
            payload["@odata.nextLink"] = f"{self.url}{DYN_PREFIX}{self.set_names[spec.name]}?{urlencode(params)}"
        headers = {"Preference-Applied": f"odata.maxpagesize={page}"} if pm else {}
        raise Reply(200, payload, headers)

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
        sets = self.by_set
        if not m or m.group(1) not in sets:
            raise CrmError(400, "0x80048d19", f"invalid @odata.bind value {value!r}")
        spec = sets[m.group(1)]
        return spec.name, self._dyn_key(spec, m.group(2))

    def _dyn_write(self, msg: odata_batch.HttpMessage) -> tuple[crm_schema.TableSpec, Write]:
        rest = unquote(msg.url.split(DYN_PREFIX, 1)[-1].split("?", 1)[0])
        m = _KEY.match(rest)
        sets = self.by_set
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
        """Apply one PATCH (inside ``con``'s transaction, or its own) → (status, headers, payload);
        a POST inside a ``$batch`` creates."""
        if msg.method == "POST" and con is not None:
            return self._dyn_post(msg, con)
        spec, w = self._dyn_write(msg)
        if con is None:
            with self.store.transaction() as c:
                rid, created, rec = self.store.apply(c, spec, w, cache)
        else:
            rid, created, rec = self.store.apply(con, spec, w, cache)
        self.count("records_written")
        headers = {"OData-EntityId": f"{self.url}{DYN_PREFIX}{self.set_names[spec.name]}({rid})"}
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
            raise Reply(400, self._error_payload(400, f"batch has {n} requests; the maximum is 1000"))
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
        raise Reply(200, data, {"Content-Type": ctype})

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
