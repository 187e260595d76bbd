"""`kore bench crm_integrity`: run the demo, then count CRM integrity failures in the sandbox CRM's own store.

What a sales team would see after a push, read from the CRM's records (``sandbox_data/crm_<flavor>.sqlite``),
not from the warehouse: the seed files (``sandbox_data/crm_seed/*.jsonl``) say which accounts and
contacts the CRM had before KORE arrived.

- ``accounts_duplicated``: KORE-created accounts whose normalised name equals a pre-existing one's;
- ``contacts_moved``: pre-existing contacts with a parent account whose parent is now another one
  (or none); ``contacts_parent_added``: pre-existing contacts without a parent that KORE gave one;
- ``contacts_pre`` / ``contacts_with_parent_pre``: context for the figure above;
- ``gabriel_contacts``: contacts named Gabriel Tremblay; ``gabriel_parent``: their parents' names.

:func:`count_integrity` is the reusable part (tests and the report call it on any demo workdir).
"""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
from pathlib import Path
from typing import Any

_SUFFIX = re.compile(r"\b(inc|ltd|llc|corp|co|plc|gmbh|limited|corporation)\b\.?", re.I)  # legal forms only

# flavour -> (account table, contact table, name fields, contact parent field, first/last name fields)
_LAYOUT = {
    "dynamics": ("account", "contact", "name", "_parentcustomerid_value", "firstname", "lastname"),
    "salesforce": ("Account", "Contact", "Name", "AccountId", "FirstName", "LastName"),
}


def _norm(name: Any) -> str:
    return " ".join(_SUFFIX.sub(" ", str(name or "").lower()).replace(",", " ").split())


def _jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]


def _rows(con: sqlite3.Connection, table: str) -> dict[str, dict[str, Any]]:
    return {
        rid: {**json.loads(data), "_ext": ext, "_id": rid}
        for rid, ext, data in con.execute("select id, ext_key, data from records where tbl = ?", [table])
    }


def count_integrity(workdir: Path, flavor: str = "dynamics") -> dict[str, Any]:
    """Integrity counts of the sandbox CRM in ``workdir`` (see the module docstring)."""
    data = Path(workdir) / "sandbox_data"
    acc_t, con_t, name_f, parent_f, first_f, last_f = _LAYOUT[flavor]
    con = sqlite3.connect(data / f"crm_{flavor}.sqlite")
    try:
        accounts, contacts = _rows(con, acc_t), _rows(con, con_t)
    finally:
        con.close()
    seed_acc = {a["crm_id"]: a for a in _jsonl(data / "crm_seed" / "accounts.jsonl")}
    seed_con = {c["crm_id"]: c for c in _jsonl(data / "crm_seed" / "contacts.jsonl")}
    pre_acc = {i for i in seed_acc if i in accounts}
    pre_names = {_norm(seed_acc[i]["name"]) for i in pre_acc}
    created = [a for i, a in accounts.items() if i not in seed_acc]
    dup = [a for a in created if _norm(a.get(name_f)) in pre_names]
    moved = added = with_parent = missing = 0
    for cid, c in seed_con.items():
        now = contacts.get(cid)
        if now is None:
            missing += 1
            continue
        before, after = c.get("account_id") or None, now.get(parent_f) or None
        with_parent += before is not None
        moved += before is not None and before != after
        added += before is None and after is not None
    gab = [
        c
        for c in contacts.values()
        if str(c.get(first_f) or "").lower() == "gabriel" and str(c.get(last_f) or "").lower() == "tremblay"
    ]
    return {
        "flavor": flavor,
        "accounts_pre": len(pre_acc),
        "accounts_created": len(created),
        "accounts_duplicated": len(dup),
        "contacts_pre": len(seed_con),
        "contacts_with_parent_pre": with_parent,
        "contacts_pre_missing": missing,
        "contacts_moved": moved,
        "contacts_parent_added": added,
        "contacts_total": len(contacts),
        "gabriel_contacts": len(gab),
        "gabriel_parent": sorted(str((accounts.get(c.get(parent_f)) or {}).get(name_f)) for c in gab),
        "gabriel_preexisting": sum(1 for c in gab if c["_id"] in seed_con),
    }


def run(workdir: Path, accounts: int | None = None, flavor: str = "dynamics", seed: int = 11, **_: object) -> dict:
    """Run ``kore demo`` into ``workdir`` and count (the demo's own sandbox CRM)."""
    from rich.console import Console

    from orchestration.cli_common import settings_for
    from orchestration.demo import run_demo

    shutil.rmtree(workdir, ignore_errors=True)
    Path(workdir).mkdir(parents=True)  # a fresh demo workdir (settings_for refuses a missing one)
    settings = settings_for(workdir, flavor)
    ok = run_demo(settings, accounts=accounts or 2000, seed=seed, console=Console(stderr=True, quiet=True))
    return {"benchmark": "crm_integrity", "accounts": accounts or 2000, "ok": ok, **count_integrity(workdir, flavor)}


if __name__ == "__main__":  # python3 benchmarks/crm_integrity.py WORKDIR [FLAVOR]
    import sys

    print(json.dumps(count_integrity(Path(sys.argv[1]), sys.argv[2] if len(sys.argv) > 2 else "dynamics")))
