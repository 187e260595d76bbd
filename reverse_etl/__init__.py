"""Reverse ETL: KORE contacts, accounts and KORE-owned entities pushed to the CRM in registry order.

``push`` is imported eagerly: the submodule of the same name would otherwise replace the function
as the package attribute once anything imports ``reverse_etl.push``.
"""

from __future__ import annotations

from reverse_etl.push import push

__all__ = ["push"]
