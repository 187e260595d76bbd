"""CRM pull: CRM-owned entities → ``raw_crm.<flavor>_<entity_snake>`` (dlt, incremental merge)."""

from __future__ import annotations

from typing import Any


def pull(settings: Any, base_url: str, flavor: str, credentials: dict[str, str]) -> dict[str, Any]:
    from dlt_pipelines.crm.source import pull as _pull

    return _pull(settings, base_url, flavor, credentials)


__all__ = ["pull"]
