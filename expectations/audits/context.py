"""What the runner's own audits read through: the run's settings and its :class:`TableReader`.

The result helpers and key normalisation are the plug-in contract's (``kore.contracts.checks``), so
a plug-in's audits and these report in exactly the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from expectations.frames import TableReader
from kore.config import Settings


@dataclass
class AuditContext:
    settings: Settings
    reader: TableReader


def table_with(ctx: AuditContext, qualified: str, columns: list[str]) -> tuple[str, str] | None:
    """The table's (schema, name) as the warehouse spells them when it exists with every one of
    ``columns`` (case-insensitive), else None."""
    real = ctx.reader.resolve(qualified)
    if real is None:
        return None
    cols = ctx.reader.columns(*real)
    return None if any(c.lower() not in cols for c in columns) else real


def read_columns(ctx: AuditContext, qualified: str, columns: list[str]) -> pd.DataFrame | None:
    """Read named columns (case-insensitive) of a table; None when the table or a column is missing."""
    real = table_with(ctx, qualified, columns)
    if real is None:
        return None
    cols = ctx.reader.columns(*real)
    df = ctx.reader.read(*real, [cols[c.lower()] for c in columns])
    df.columns = [c.lower() for c in columns]
    return df


def missing_tables(ctx: AuditContext, *tables: str) -> list[str]:
    return [t for t in tables if not ctx.reader.exists(t)]
