"""The KORE apps' tables in memory while the sandbox generates or edits them.

:class:`AppTables` holds the rows per entity and the next identity value, and makes rows the way the
app's database would: every column of the entity's ``SPEC`` (``kore.contracts.kore_apps``) present,
``created_at``/``modified_at`` inside the generation window, children stamped after their parent.
Every random draw goes through ``AppTables.rng`` (and ``fake``), so the data is deterministic for a seed.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from faker import Faker

from kore.contracts.kore_apps import ENTITIES, SPEC

TS_FORMAT = "%Y-%m-%d %H:%M:%S"

Row = dict[str, Any]

REPS = [
    ("Jordan", "Ellis"),
    ("Morgan", "Reyes"),
    ("Casey", "Nguyen"),
    ("Taylor", "Brooks"),
    ("Riley", "Patel"),
    ("Avery", "Chen"),
    ("Quinn", "Murphy"),
    ("Drew", "Kowalski"),
]
REP_EMAILS = [f"{f.lower()}.{last.lower()}@club.example.com" for f, last in REPS]


def fmt_ts(d: datetime) -> str:
    return d.strftime(TS_FORMAT)


def parse_ts(s: str) -> datetime:
    return datetime.strptime(s, TS_FORMAT)


class AppTables:
    """The app's tables in memory while generating: rows per entity and the next identity value."""

    def __init__(
        self,
        rng: random.Random,
        fake: Faker,
        acct_ids: Sequence[int],
        t_from: datetime,
        t_to: datetime,
        owners: Sequence[str] = tuple(REP_EMAILS),
    ):
        self.owners = list(owners)
        self.rng = rng
        self.fake = fake
        self.acct_ids = list(acct_ids)
        self.t_from = t_from
        self.t_to = t_to
        self.rows: dict[str, list[Row]] = {e: [] for e in ENTITIES}
        self.next_id: dict[str, int] = {e: 1 for e in ENTITIES}

    def stamp(self, after: str | None = None) -> tuple[str, str]:
        """created_at/modified_at inside the generation window (children after their parent)."""
        lo = max(self.t_from, parse_ts(after)) if after else self.t_from
        span = max(1, int((self.t_to - lo).total_seconds()) - 1)
        created = lo + timedelta(seconds=self.rng.randrange(span))
        span2 = max(1, int((self.t_to - created).total_seconds()) - 1)
        modified = created + timedelta(seconds=self.rng.randrange(span2) if self.rng.random() < 0.4 else 0)
        return fmt_ts(created), fmt_ts(modified)

    def add(self, entity: str, name: str, after: str | None = None, **values: Any) -> Row:
        created, modified = self.stamp(after)
        row: Row = {"id": self.next_id[entity], "name": name}
        for f in SPEC[entity]:
            row[f.name] = values.get(f.name)
        row["created_at"], row["modified_at"] = created, modified
        unknown = set(values) - {f.name for f in SPEC[entity]}
        if unknown:
            raise ValueError(f"{entity}: unknown columns {sorted(unknown)}")
        self.next_id[entity] += 1
        self.rows[entity].append(row)
        return row

    def pick(self, entity: str, where: Callable[[Row], bool] | None = None) -> Row:
        rows = [r for r in self.rows[entity] if where is None or where(r)]
        return self.rng.choice(rows)

    def acct(self) -> int:
        return self.rng.choice(self.acct_ids)

    def money(self, lo: float, hi: float, step: int = 50) -> float:
        return float(round(self.rng.uniform(lo, hi) / step) * step)
