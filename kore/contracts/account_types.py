"""The Account Type filter: which Archtics accounts never sync to the CRM.

Clients may exclude Account Types (``cust.acct_type_desc``, e.g. "Comp", "Internal") from CRM
sync. The raw layer keeps every account - the filter is a downstream decision that can change
without re-landing anything. The list comes from ``Settings.excluded_account_types``
(``KORE_EXCLUDED_ACCOUNT_TYPES=Comp,Internal``). Matching ignores case and surrounding spaces,
because Archtics Account Types are typed by people. dbt reads the same list (see
:func:`dbt_var`) to expose ``is_excluded_account_type`` (0/1) in ``dedup.dedup_person_records``.
"""

from __future__ import annotations

import json

from kore.config import Settings


def normalize_account_type(value: str | None) -> str:
    """Comparison form of an Account Type: trimmed, lower case ('' for none)."""
    return (value or "").strip().lower()


def excluded_account_types(settings: Settings) -> tuple[str, ...]:
    """The configured excluded Account Types in comparison form, without duplicates or blanks."""
    seen: dict[str, None] = {}
    for v in settings.excluded_account_types:
        n = normalize_account_type(v)
        if n:
            seen[n] = None
    return tuple(seen)


def is_excluded_account_type(acct_type_desc: str | None, settings: Settings) -> bool:
    """True when an account of this Account Type must not sync to the CRM."""
    return normalize_account_type(acct_type_desc) in excluded_account_types(settings)


def dbt_var(settings: Settings) -> str:
    """``--vars`` JSON for dbt: ``{"excluded_account_types": [...]}`` (comparison form).

    A model tests ``lower(trim(acct_type_desc)) in (...)``; with an empty list nothing is excluded.
    """
    return json.dumps({"excluded_account_types": list(excluded_account_types(settings))})
