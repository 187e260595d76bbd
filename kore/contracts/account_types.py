"""The Account Type filter: which Archtics accounts never sync to the CRM.

Clients may exclude Account Types (``cust.acct_type_desc``, e.g. "Comp", "Internal") from CRM
sync. The raw layer keeps every account - the filter is a downstream decision that can change
without re-landing anything. The list comes from ``Settings.excluded_account_types``
(``KORE_EXCLUDED_ACCOUNT_TYPES=Comp,Internal``). Matching ignores case and surrounding spaces,
because Archtics Account Types are typed by people. dbt reads the same variable (``Settings.env()``
passes it to dbt) and the macro ``macros/account_types.sql`` applies the same rule in SQL
(``lower(trim(...))``: spaces only, as SQL's ``trim``), exposing ``is_excluded_account_type`` (0/1)
in ``dedup.dedup_person_records``; ``tests/test_account_types_dbt.py`` holds the two to each other.
"""

from __future__ import annotations

from kore.config import Settings


def normalize_account_type(value: str | None) -> str:
    """Comparison form of an Account Type: surrounding spaces removed, lower case ('' for none).

    Spaces only (not tabs or newlines), because SQL's ``trim`` on both engines removes only spaces."""
    return (value or "").strip(" ").lower()


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
