"""The Salesforce REST API subset of the sandbox CRM (flavor ``salesforce``).

Token endpoint (client credentials, or password + security token), SOQL ``query`` (``SELECT ..
FROM .. [WHERE <modified> >= <ts> AND <field> = '<v>'] [ORDER BY ..] [LIMIT n]``, paged with
``nextRecordsUrl``) and sObject Collections upsert by external id (up to 200 records,
``allOrNone``, per-record results, parents by external-id relationship). Routing is in
:mod:`sandbox.crm_api`.
"""

from __future__ import annotations

import base64
import re
import secrets
import time
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs

from sandbox import crm_metadata, crm_schema
from sandbox.crm_core import SF_PREFIX, CrmCore, Reply, b64, unb64
from sandbox.crm_store import CrmError, Ref, Write, iso, parse_ts

MAX_COLLECTION_RECORDS = 200
DEFAULT_SF_PAGE = 2000

_SOQL = re.compile(
    r"^\s*SELECT\s+(?P<fields>.+?)\s+FROM\s+(?P<obj>\w+)"
    r"(?:\s+WHERE\s+(?P<where>.+?))?(?:\s+ORDER\s+BY\s+(?P<order>.+?))?(?:\s+LIMIT\s+(?P<limit>\d+))?\s*$",
    re.I | re.S,
)
_COND = re.compile(r"^\s*(\w+)\s*(>=|<=|=|>|<|!=)\s*('(?:[^'\\]|\\.)*'|\S+)\s*$")


class SalesforceApi(CrmCore):
    """The Salesforce handlers (mixed into :class:`sandbox.crm_api.CrmApp`)."""

    def _token_salesforce(self, h, body: bytes) -> None:
        """OAuth token endpoint: client credentials (in the form or as HTTP Basic, as simple-salesforce
        sends them), username-password, and the JWT bearer flow
        (https://help.salesforce.com/apex/HTViewHelpDoc?id=xcloud.remoteaccess_oauth_jwt_flow.htm)."""
        form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
        c = self.creds
        auth = h.headers.get("Authorization", "")
        if auth.startswith("Basic "):
            cid, _, secret = base64.b64decode(auth[6:]).decode().partition(":")
            form.setdefault("client_id", cid)
            form.setdefault("client_secret", secret)
        ok_client = form.get("client_id") == c["client_id"] and form.get("client_secret") == c["client_secret"]
        grant = form.get("grant_type")
        if grant == "password":
            ok = ok_client and form.get("username") == c["username"]
            ok = ok and form.get("password") == c["password"] + c["security_token"]
        elif grant == "urn:ietf:params:oauth:grant-type:jwt-bearer":
            ok = self._jwt_ok(form.get("assertion", ""))
        else:
            ok = grant == "client_credentials" and ok_client
        if not ok:
            raise Reply(400, {"error": "invalid_grant", "error_description": "authentication failure"})
        raise Reply(
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

    def _jwt_ok(self, assertion: str) -> bool:
        """An RS256 assertion signed with the connected app's key: iss = client id, sub = the
        integration user, aud = a Salesforce login host or this sandbox, not expired."""
        import jwt

        if self.jwt_key is None:
            return False
        pub = self.jwt_key.with_name("crm_salesforce_jwt_pub.pem").read_bytes()
        audiences = ["https://login.salesforce.com", "https://test.salesforce.com", self.url]
        try:
            claims = jwt.decode(assertion, pub, algorithms=["RS256"], audience=audiences, options={"require": ["exp"]})
        except jwt.PyJWTError:
            return False
        return claims.get("iss") == self.creds["client_id"] and claims.get("sub") == self.creds["username"]

    def _sf_describe(self, rest: str) -> None:
        """``sobjects/`` and ``sobjects/{Object}/describe`` (see :mod:`sandbox.crm_metadata`)."""
        if rest.strip("/") == "sobjects":
            raise Reply(200, crm_metadata.sf_global(list(crm_schema.tables(self.flavor).values())))
        obj = rest.strip("/").split("/")[1]
        spec = crm_schema.tables(self.flavor).get(obj)
        if spec is None:
            raise Reply(
                404, [{"message": "The requested resource does not exist", "errorCode": "NOT_FOUND", "fields": []}]
            )
        raise Reply(200, crm_metadata.sf_describe(spec))

    def _sf_upsert_one(self, obj: str, ext_field: str, value: str, rec: dict) -> None:
        """``PATCH sobjects/{Object}/{ExternalIdField}/{value}``: 201 + result when created, 200 when
        updated (https://developer.salesforce.com/docs/platform/api-rest/guide/dome-upsert.html);
        errors as a list of ``{message, errorCode, fields}``."""
        spec = crm_schema.tables(self.flavor).get(obj)
        if spec is None:
            raise Reply(
                404, [{"message": "The requested resource does not exist", "errorCode": "NOT_FOUND", "fields": []}]
            )
        if ext_field not in ("Id", spec.ext_field):
            msg = f"Provided external ID field does not exist or is not accessible: {ext_field}"
            raise Reply(404, [{"message": msg, "errorCode": "NOT_FOUND", "fields": []}])
        if ext_field in rec and str(rec[ext_field]) != value:
            msg = f"The value of {ext_field} in the body differs from the URL"
            raise Reply(400, [{"message": msg, "errorCode": "INVALID_FIELD", "fields": [ext_field]}])
        with self.store.transaction() as con:
            rid, created, _ = self.store.apply(con, spec, self._sf_write(spec, ext_field, {**rec, ext_field: value}))
        self.count("records_written")
        raise Reply(201 if created else 200, {"id": rid, "success": True, "errors": [], "created": created})

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
            state = unb64(token.split("-", 1)[0])
            soql, after, page = state["q"], tuple(state["after"]), state["page"]
        else:
            after = None
            om = re.search(r"batchSize=(\d+)", h.headers.get("Sforce-Query-Options", ""))
            page = max(200, min(2000, int(om.group(1)))) if om else DEFAULT_SF_PAGE
        m = _SOQL.match(soql)
        if not m:
            raise Reply(400, [{"message": f"unsupported SOQL: {soql[:200]}", "errorCode": "MALFORMED_QUERY"}])
        try:
            spec = crm_schema.resolve(self.flavor, m.group("obj"))
        except KeyError:
            raise Reply(
                400, [{"message": f"sObject type '{m.group('obj')}' is not supported", "errorCode": "INVALID_TYPE"}]
            ) from None
        fields = [f.strip() for f in m.group("fields").split(",")]
        since, equals = None, []
        if m.group("where"):
            for cond in re.split(r"\s+AND\s+", m.group("where"), flags=re.I):
                cm = _COND.match(cond)
                if not cm:
                    raise Reply(400, [{"message": f"unsupported condition: {cond}", "errorCode": "MALFORMED_QUERY"}])
                f, op, v = cm.groups()
                if f == spec.modified_field and op in (">=", ">"):
                    since = parse_ts(v)
                    if op == ">":
                        since += timedelta(microseconds=1)
                elif op == "=":
                    equals.append((f, v.strip("'")))
                else:
                    raise Reply(400, [{"message": f"unsupported condition: {cond}", "errorCode": "MALFORMED_QUERY"}])
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
            tok = b64(
                {"q": soql, "after": [iso(parse_ts(last[spec.modified_field])), last[spec.id_field]], "page": page}
            )
            payload["nextRecordsUrl"] = f"{SF_PREFIX}query/{tok}-{page}"
        raise Reply(200, payload)

    def _sf_collection_upsert(self, obj: str, ext_field: str, req: dict) -> None:
        try:
            spec = crm_schema.resolve(self.flavor, obj)
        except KeyError:
            raise Reply(
                404, [{"message": f"The requested resource does not exist: {obj}", "errorCode": "NOT_FOUND"}]
            ) from None
        records = req.get("records") or []
        if len(records) > MAX_COLLECTION_RECORDS:
            raise Reply(400, [{"message": "EXCEEDED_ID_LIMIT: record limit is 200", "errorCode": "EXCEEDED_ID_LIMIT"}])
        if ext_field not in ("Id", spec.ext_field):
            raise Reply(
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
        raise Reply(200, results)

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
