"""YAML lines both model generators write (``generate_crm_models.py``, ``generate_kore_app_models.py``)."""

from __future__ import annotations


def yaml_str(s: str) -> str:
    """A double-quoted YAML scalar (double quotes inside become single quotes)."""
    return '"' + s.replace('"', "'") + '"'


def primary_key_test(columns: list[str], invalid_when: str | None = None) -> list[str]:
    """The model's primary-key test (``kore_primary_key``: never null, never repeated, one scan of the
    model): dbt's unique + not_null were two test nodes, each a query of ~80 ms of dbt's time."""
    out = [
        "    data_tests:",
        "      - kore_primary_key:",
        "          arguments:",
        f"            columns: [{', '.join(columns)}]",
    ]
    if invalid_when:
        out.append(f"            invalid_when: {yaml_str(invalid_when)}")
    return out
