"""The CRM's field-length limits: what the push validates before sending and ``kore check`` flags.

Why a contract: a value longer than the org's field (a 57-character last name where Dynamics allows
50) fails on every push, and every child of that row (its ticket purchases, touchpoints) waits
behind it. Checking lengths before sending holds the row back with a clear reason (no request is
wasted on it), and the same limits let ``kore check`` flag it before the push runs.

Where the limits come from, in order:

1. ``overrides``: per CRM table and field, e.g. read from the org's metadata (Dataverse
   ``EntityDefinitions/Attributes`` ``MaxLength``, Salesforce ``describe`` ``length``). The push
   passes what the client knows (see :class:`FieldLimits`); nothing reads metadata here.
2. the static table: ``crm_field_map.csv``'s ``max_length`` for CRM-owned entities (Contact,
   Account, ...), and for KORE-owned entities the limits KORE's solution creates its tables with
   (name, external key, attribute columns: ``crm_names``).

Only text values are measured (numbers, dates and lookups are not strings of the CRM's text fields).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from kore.contracts import crm_names
from kore.registry import by_name

# golden_contacts / golden_accounts column -> crm_field_map kore_column (of Contact / Account)
PARTY_COLUMNS = {
    "phone": "phone",
    "street": "street",
    "city": "city",
    "state": "state",
    "zip5": "postal_code",
    "postal_code": "postal_code",
    "country": "country",
    "primary_acct_id": "archtics_account_id",
    "archtics_account_id": "archtics_account_id",
}
CONTACT_COLUMNS = {
    "first_name": "first_name",
    "last_name": "last_name",
    "email": "email",
    "mobile_phone": "mobile_phone",
    "birth_date": "birth_date",
    **PARTY_COLUMNS,
}
ACCOUNT_COLUMNS = {"name": "name", **PARTY_COLUMNS}
GOLDEN_COLUMNS = {"Contact": CONTACT_COLUMNS, "Account": ACCOUNT_COLUMNS}


PLUS_PREFIXED = ("phone", "mobile_phone")  # golden columns sent with a leading "+" (as_sent)


def as_sent(column: str, value: Any) -> Any:
    """A golden value as the push sends it: dedup keeps phones as E.164 digits, the CRM shows them
    with the leading ``+`` (so a phone's length in the CRM is one more than in the warehouse)."""
    if column in PLUS_PREFIXED and isinstance(value, str) and value.isdigit():
        return "+" + value
    return value


def sent_lengths(column: str, values: pd.Series) -> pd.Series:
    """Each value's length as the push sends it (:func:`as_sent`: a phone of digits gains its ``+``),
    0 where there is no text; column-wise, for the field-length audit over a million golden contacts
    (a Python call per value took most of its 8 s)."""
    if not isinstance(values.dtype, pd.StringDtype):  # only text has a length (numbers, nulls: 0)
        objects = values.astype(object)
        values = objects.where([isinstance(v, str) for v in objects], None).astype("string")
    lengths = values.str.len().fillna(0).astype(int)  # in Arrow for the warehouse's text (~10x)
    if column in PLUS_PREFIXED:  # Python's isdigit, as as_sent's (Unicode digits too)
        digits = [isinstance(v, str) and v.isdigit() for v in values.tolist()]
        lengths += pd.Series(digits, index=values.index).astype(int)
    return lengths


Overrides = Mapping[str, Mapping[str, int]]  # CRM table name -> field -> max length (from metadata)


def static_limit(entity: str, flavor: str, crm_field: str) -> int | None:
    """The static table's limit of ``crm_field`` (the flavour's field name) of a registry entity."""
    ent = by_name(entity)
    if ent.direction == "crm_to_kore":
        for r in crm_names.field_spec(entity).for_flavor(flavor):
            if r.field(flavor) == crm_field and r.role in ("attr", "external_key"):
                return r.max_length
        return None
    if crm_field in (crm_names.DYN_NAME, crm_names.SF_NAME):
        return crm_names.NAME_MAX_LENGTH
    if crm_field in (crm_names.DYN_EXT_KEY, crm_names.SF_EXT_KEY):
        return crm_names.EXTERNAL_KEY_MAX_LENGTH
    if "@" in crm_field:  # a Dynamics lookup binding, not a text field
        return None
    return crm_names.ATTRIBUTE_MAX_LENGTH


@dataclass
class FieldLimits:
    """The limits of one flavour: metadata ``overrides`` first, then the static table."""

    flavor: str
    overrides: Overrides = field(default_factory=dict)

    def limit(self, entity: str, crm_field: str) -> int | None:
        crm_name = crm_names.crm_entity_name(entity, self.flavor)
        meta = self.overrides.get(crm_name, {})
        if crm_field in meta:
            return meta[crm_field]
        return static_limit(entity, self.flavor, crm_field)

    def violations(self, entity: str, body: Mapping[str, Any]) -> list[str]:
        """``"lastname: 57 > 50"`` per text value over its field's limit (lengths only, no values)."""
        out = []
        for f, v in body.items():
            if not isinstance(v, str):
                continue
            n = self.limit(entity, f)
            if n is not None and len(v) > n:
                out.append(f"{f}: {len(v)} > {n}")
        return out


def golden_limits(entity: str, flavor: str) -> dict[str, int]:
    """golden_contacts/golden_accounts column -> the static limit of the CRM field it is sent to."""
    fmap = crm_names.field_spec(entity).kore_to_field(flavor)
    out = {}
    for col, kore_col in GOLDEN_COLUMNS[entity].items():
        f = fmap.get(kore_col)
        n = static_limit(entity, flavor, f) if f else None
        if n:
            out[col] = n
    return out
