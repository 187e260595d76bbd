"""The sandbox CRM's data: one SQLite file per flavour, safe across the server's threads.

Why SQLite: the store must survive a server restart (a re-run of the push has to find what the
last run created) and take concurrent requests, and it gives real transactions for Dynamics change
sets and Salesforce ``allOrNone``. Every write stamps a strictly increasing modification time, so
incremental pulls never miss a row written in the same instant as the previous cursor.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import sqlite3
import string
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sandbox.crm_schema import TableSpec, resolve

_SCHEMA = """
create table if not exists records (
    tbl text not null,
    id text not null,
    ext_key text,
    modified text not null,
    data text not null,
    primary key (tbl, id)
);
create unique index if not exists records_ext on records (tbl, ext_key) where ext_key is not null;
create index if not exists records_modified on records (tbl, modified, id);
"""
_ALNUM = string.ascii_letters + string.digits


class CrmError(Exception):
    """A record the CRM refuses: HTTP status, error code and message as the API would report them."""

    def __init__(self, status: int, code: str, message: str, fields: list[str] | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.fields = status, code, message, fields or []


@dataclass
class Ref:
    """How a request names a record: by CRM id or by an alternate/external key."""

    kind: str  # id | ext
    value: str
    field: str | None = None  # the key field for kind == ext


@dataclass
class Write:
    key: Ref | None  # None: create
    body: dict[str, Any]
    binds: list[tuple[str, str, Ref]]  # (lookup write name, target table, ref)
    mode: str = "upsert"  # upsert | update | create


def iso(ts: datetime) -> str:
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_ts(value: str) -> datetime:
    """Parse the timestamp forms both APIs use (``...Z``, ``...+0000``, with or without fraction)."""
    v = value.strip().replace("Z", "+00:00")
    if len(v) >= 5 and v[-5] in "+-" and v[-3] != ":":
        v = v[:-2] + ":" + v[-2:]
    ts = datetime.fromisoformat(v)
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


class CrmStore:
    def __init__(self, path: Path, flavor: str):
        self.path = Path(path)
        self.flavor = flavor
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._lock = threading.RLock()
        self._conns: list[sqlite3.Connection] = []
        self._last_ts = datetime(1970, 1, 1, tzinfo=UTC)
        con = self._conn()
        con.executescript(_SCHEMA)
        last = con.execute("select max(modified) from records").fetchone()[0]
        if last:
            self._last_ts = parse_ts(last)

    # -- connections -----------------------------------------------------------------------
    def _conn(self) -> sqlite3.Connection:
        con = getattr(self._local, "con", None)
        if con is None:
            con = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
            con.execute("pragma journal_mode=wal")
            con.execute("pragma synchronous=normal")
            self._local.con = con
            with self._lock:
                self._conns.append(con)
        return con

    def close(self) -> None:
        with self._lock:
            for con in self._conns:
                with contextlib.suppress(Exception):
                    con.close()
            self._conns.clear()
        self._local = threading.local()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (writes are serialised: SQLite has one writer anyway)."""
        with self._lock:
            con = self._conn()
            con.execute("begin immediate")
            try:
                yield con
            except BaseException:
                con.execute("rollback")
                raise
            else:
                con.execute("commit")

    def _next_ts(self) -> datetime:
        now = datetime.now(UTC)
        self._last_ts = max(now, self._last_ts + timedelta(microseconds=1))
        return self._last_ts

    def new_id(self) -> str:
        if self.flavor == "dynamics":
            return str(uuid.uuid4())
        return "a0" + "".join(secrets.choice(_ALNUM) for _ in range(16))

    # -- reading ---------------------------------------------------------------------------
    def is_empty(self) -> bool:
        return self._conn().execute("select count(*) from records").fetchone()[0] == 0

    def count(self, table: str) -> int:
        return self._conn().execute("select count(*) from records where tbl = ?", [table]).fetchone()[0]

    def _row(self, spec: TableSpec, rid: str, modified: str, data: str) -> dict[str, Any]:
        rec = json.loads(data)
        rec[spec.id_field] = rid
        rec[spec.modified_field] = modified
        return rec

    def get(self, spec: TableSpec, ref: Ref, con: sqlite3.Connection | None = None) -> tuple[str, dict] | None:
        con = con or self._conn()
        if ref.kind == "id":
            row = con.execute(
                "select id, modified, data from records where tbl = ? and id = ?", [spec.name, ref.value]
            ).fetchone()
        else:
            if ref.field != spec.ext_field:
                raise CrmError(400, "INVALID_FIELD", f"{ref.field} is not a key of {spec.name}")
            row = con.execute(
                "select id, modified, data from records where tbl = ? and ext_key = ?", [spec.name, ref.value]
            ).fetchone()
        return (row[0], self._row(spec, *row)) if row else None

    def changes(
        self, spec: TableSpec, since: datetime | None, after: tuple[str, str] | None, limit: int
    ) -> list[dict[str, Any]]:
        """Rows of a table modified at/after ``since``, ordered by (modified, id), after a paging cursor."""
        sql = "select id, modified, data from records where tbl = ?"
        params: list[Any] = [spec.name]
        if since is not None:
            sql += " and modified >= ?"
            params.append(iso(since))
        if after is not None:
            sql += " and (modified > ? or (modified = ? and id > ?))"
            params += [after[0], after[0], after[1]]
        sql += " order by modified, id limit ?"
        params.append(limit)
        return [self._row(spec, *r) for r in self._conn().execute(sql, params).fetchall()]

    def all_records(self, spec: TableSpec) -> list[dict[str, Any]]:
        return self.changes(spec, None, None, 10**9)

    def record_keys(self, spec: TableSpec) -> tuple[list[str], list[str]]:
        """(CRM ids, external keys) of a table's records: what a reconciliation compares, without
        decoding every record (at a million pushed rows the whole records are a gigabyte of JSON)."""
        rows = self._conn().execute("select id, ext_key from records where tbl = ?", [spec.name]).fetchall()
        return [r[0] for r in rows], [r[1] for r in rows if r[1] is not None]

    # -- writing ---------------------------------------------------------------------------
    def insert_raw(
        self, con: sqlite3.Connection, spec: TableSpec, rid: str, data: dict[str, Any], modified: str | None = None
    ) -> None:
        """Seed a record as the CRM holds it (no validation: seed data is the CRM's own).

        ``modified`` keeps the seed's own modification time (dedup compares it with Archtics').
        """
        data = {k: v for k, v in data.items() if k not in (spec.id_field, spec.modified_field)}
        ext = data.get(spec.ext_field) if spec.ext_field else None
        stamp = iso(parse_ts(modified)) if modified else iso(self._next_ts())
        con.execute(
            "insert or replace into records (tbl, id, ext_key, modified, data) values (?, ?, ?, ?, ?)",
            [spec.name, rid, ext, stamp, json.dumps(data)],
        )

    def touch(self, spec: TableSpec, count: int, field: str | None = None) -> list[str]:
        """Change ``count`` records (as a CRM user would): the next incremental pull must see them."""
        with self.transaction() as con:
            rows = con.execute(
                "select id, data from records where tbl = ? order by id limit ?", [spec.name, count]
            ).fetchall()
            for rid, data in rows:
                rec = json.loads(data)
                if field:
                    rec[field] = f"{rec.get(field) or ''}*"[:60]
                con.execute(
                    "update records set data = ?, modified = ? where tbl = ? and id = ?",
                    [json.dumps(rec), iso(self._next_ts()), spec.name, rid],
                )
        return [r[0] for r in rows]

    def delete(self, spec: TableSpec, rid: str) -> bool:
        """Delete a record by id, as a CRM user (or a merge, on Salesforce) does; True if it existed.
        The record is gone: an incremental pull by modification time never sees a deletion."""
        with self.transaction() as con:
            cur = con.execute("delete from records where tbl = ? and id = ?", [spec.name, rid])
        return cur.rowcount > 0

    def apply(
        self, con: sqlite3.Connection, spec: TableSpec, w: Write, cache: dict | None = None
    ) -> tuple[str, bool, dict[str, Any]]:
        """Validate and write one record inside the caller's transaction → (id, created, record)."""
        body = dict(w.body)
        for name, value in body.items():
            check = spec.check_field(name)
            if check is None or name in (spec.id_field, spec.modified_field):
                raise CrmError(400, "INVALID_FIELD", f"No such column '{name}' on {spec.name}", [name])
            max_len, _ = check
            if max_len and isinstance(value, str) and len(value) > max_len:
                raise CrmError(400, "STRING_TOO_LONG", f"{name}: data value too large (max length={max_len})", [name])
        for write_name, target, ref in w.binds:
            lk = spec.lookup_for_write(write_name)
            if lk is None or lk.target != target:
                raise CrmError(400, "INVALID_FIELD", f"No such relationship '{write_name}' on {spec.name}")
            body[lk.stored_as] = self._parent_id(con, target, ref, cache)
        existing = self.get(spec, w.key, con) if w.key else None
        if w.mode == "update" and existing is None:
            raise CrmError(404, "NOT_FOUND", f"{spec.name} with key {w.key.value if w.key else ''} does not exist")
        if w.mode == "create" and existing is not None:
            raise CrmError(412, "DUPLICATE_VALUE", f"{spec.name} with key {w.key.value} already exists")
        if w.key and w.key.kind == "ext":
            if body.get(w.key.field) not in (None, w.key.value):
                raise CrmError(400, "INVALID_FIELD", "external key in body differs from the key in the URL")
            body[w.key.field] = w.key.value
        if existing:
            rid, rec = existing
            rec.update(body)
            created = False
        else:
            if w.key and w.key.kind == "id":
                if spec.flavor == "salesforce":
                    raise CrmError(404, "NOT_FOUND", f"{spec.name} with Id {w.key.value} does not exist")
                rid = w.key.value
            else:
                rid = self.new_id()
            rec = body
            created = True
        for name, (_, required) in spec.fields.items():
            if required and rec.get(name) in (None, ""):
                raise CrmError(400, "REQUIRED_FIELD_MISSING", f"Required fields are missing: [{name}]", [name])
        data = {k: v for k, v in rec.items() if k not in (spec.id_field, spec.modified_field)}
        ext = data.get(spec.ext_field) if spec.ext_field else None
        modified = iso(self._next_ts())
        try:
            con.execute(
                "insert or replace into records (tbl, id, ext_key, modified, data) values (?, ?, ?, ?, ?)",
                [spec.name, rid, ext, modified, json.dumps(data)],
            )
        except sqlite3.IntegrityError as exc:
            raise CrmError(400, "DUPLICATE_VALUE", f"duplicate external key on {spec.name}") from exc
        out = {**data, spec.id_field: rid, spec.modified_field: modified}
        return rid, created, out

    def _parent_id(self, con: sqlite3.Connection, target: str, ref: Ref, cache: dict | None) -> str:
        key = (target, ref.kind, ref.field, ref.value)
        if cache is not None and key in cache:
            return cache[key]
        tspec = resolve(self.flavor, target)
        found = self.get(tspec, ref, con)
        if not found:
            raise CrmError(
                404 if self.flavor == "dynamics" else 400,
                "INVALID_FIELD" if self.flavor == "salesforce" else "NOT_FOUND",
                f"Foreign key {ref.field or 'Id'}: {ref.value} not found in {target}",
            )
        if cache is not None:
            cache[key] = found[0]
        return found[0]
