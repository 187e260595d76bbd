"""Audits from check plug-ins (``kore.contracts.checks``), found through Python entry points.

The runner never imports a plug-in: it asks ``importlib.metadata`` for the entry points of the
group ``kore.checks`` (or takes the plug-ins its caller names, which tests do because an editable
install's entry points are those of the checkout it was installed from), hands each a
:class:`CheckContext` and runs the audits it returns like its own. A plug-in that does not load or
fails to list its audits becomes one ``error`` result instead of hiding the other checks.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib.metadata import entry_points

import pandas as pd

from expectations.frames import TableReader
from kore.contracts.checks import ENTRY_POINT_GROUP, Audit, CheckContext, CheckPlugin, CheckResult


class ReaderTables:
    """:class:`kore.contracts.checks.WarehouseTables` over the run's :class:`TableReader`."""

    def __init__(self, reader: TableReader):
        self._reader = reader

    def columns(self, qualified: str) -> dict[str, str] | None:
        real = self._reader.resolve(qualified)
        return None if real is None else self._reader.columns(*real)

    def read(self, qualified: str, columns: list[str]) -> pd.DataFrame:
        real = self._reader.resolve(qualified)
        if real is None:
            raise LookupError(f"table missing: {qualified}")
        cols = self._reader.columns(*real)
        df = self._reader.read(*real, [cols[c.lower()] for c in columns])
        df.columns = list(columns)
        return df

    def read_matching(self, qualified: str, columns: list[str], keys: pd.DataFrame) -> pd.DataFrame:
        real = self._reader.resolve(qualified)
        if real is None:
            raise LookupError(f"table missing: {qualified}")
        cols = self._reader.columns(*real)
        key_cols = {cols[str(k).lower()]: keys[k] for k in keys.columns}
        df = self._reader.read_matching(*real, [cols[c.lower()] for c in columns], key_cols)
        df.columns = list(columns)
        return df


def plugin_name(plugin: CheckPlugin) -> str:
    """``module:function``, as an entry point names it."""
    return f"{getattr(plugin, '__module__', '?')}:{getattr(plugin, '__qualname__', repr(plugin))}"


def discover_plugins() -> list[tuple[str, CheckPlugin | Exception]]:
    """(name, plug-in) of every ``kore.checks`` entry point installed; the error when one does not load."""
    found: dict[str, CheckPlugin | Exception] = {}  # by value: one function declared twice runs once
    for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        if ep.value in found:
            continue
        try:
            found[ep.value] = ep.load()
        except Exception as exc:  # a broken plug-in must not hide the other results
            found[ep.value] = exc
    return list(found.items())


def plugin_audits(plugins: Sequence[CheckPlugin] | None, context: CheckContext) -> list[Audit]:
    """The audits of the given plug-ins, or of the installed ones when ``plugins`` is None."""
    named = discover_plugins() if plugins is None else [(plugin_name(p), p) for p in plugins]
    out: list[Audit] = []
    for name, plugin in named:
        try:
            if isinstance(plugin, Exception):
                raise plugin
            out.extend(plugin(context))
        except Exception as exc:
            out.append(_broken(name, exc))
    return out


def _broken(name: str, exc: Exception) -> Audit:
    """An audit that raises the plug-in's error when run (the runner reports it as an ``error``)."""

    def run() -> CheckResult:
        raise exc

    return Audit("all", f"check_plugin[{name}]", "", run)
