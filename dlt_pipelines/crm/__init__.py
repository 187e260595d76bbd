"""CRM sync in both directions (Dynamics 365 or Salesforce).

- :func:`pull`: CRM-owned entities → ``raw_crm.<flavor>_<entity_snake>`` (dlt, incremental merge).
- :func:`push`: dedup contacts/accounts and KORE-owned entities → the CRM, in registry order, with
  per-row state in ``ops.crm_sync_state``.

``push`` is imported eagerly: a submodule of the same name would otherwise replace the function
as the package attribute once anything imports ``dlt_pipelines.crm.push``. ``pull`` stays lazy so
the sandbox can use :mod:`dlt_pipelines.crm.naming` without loading dlt.
"""

from __future__ import annotations

from typing import Any

from dlt_pipelines.crm.push import push


def pull(settings: Any, base_url: str, flavor: str, credentials: dict[str, str]) -> dict[str, Any]:
    from dlt_pipelines.crm.source import pull as _pull

    return _pull(settings, base_url, flavor, credentials)


__all__ = ["pull", "push"]
