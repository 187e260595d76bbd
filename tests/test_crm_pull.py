"""CRM pull over real HTTPS on loopback, both flavours: every CRM-owned entity, incremental reads."""

from __future__ import annotations

import pytest
from dlt.common.normalizers.naming.snake_case import NamingConvention

from dlt_pipelines.crm import pull
from dlt_pipelines.crm.source import pull as pull_paged
from kore.contracts import crm_names
from kore.registry import crm_to_kore
from kore.warehouse import connect
from sandbox.crm_api import CrmSandbox
from sandbox.crm_schema import resolve
from tests.test_crm_support import settings_for

SNAKE = NamingConvention()


def _expected_tables(flavor: str) -> dict[str, str]:
    """raw table -> CRM table for every CRM-owned entity the flavour syncs."""
    out = {}
    for e in crm_to_kore(flavor):
        out[f"{flavor}_{crm_names.entity_snake(e.entity)}"] = e.crm_name(flavor)
    return out


def _columns(settings, table: str) -> set[str]:
    with connect(settings) as wh:
        rows = wh.query_rows(
            "select column_name from information_schema.columns where table_schema = 'raw_crm' and table_name = ?",
            [table],
        )
    return {r[0] for r in rows}


@pytest.mark.parametrize("flavor", ["dynamics", "salesforce"])
def test_pull_lands_every_entity_then_reads_only_changes(flavor, tmp_path, monkeypatch):
    settings = settings_for(tmp_path, monkeypatch)
    with CrmSandbox(settings.sandbox_dir, flavor) as sb:
        first = pull(settings, sb.url, flavor, sb.credentials)
        expected = _expected_tables(flavor)
        assert set(first["tables"]) == set(expected)
        if flavor == "salesforce":
            # appointments are Salesforce's standard Event object, tasks its Task object
            assert expected["salesforce_appointment"] == "Event" and expected["salesforce_task"] == "Task"
        with connect(settings) as wh:
            for table, crm in expected.items():
                n = wh.scalar(f"select count(*) from raw_crm.{table}")
                assert n == sb.store.count(crm) > 0, table
        # Every field of the field map is a column, named as dlt normalises it.
        for e in crm_to_kore(flavor):
            table = next(t for t, c in expected.items() if c == e.crm_name(flavor))
            cols = _columns(settings, table)
            for r in crm_names.field_spec(e.entity).for_flavor(flavor):
                assert SNAKE.normalize_identifier(r.field(flavor)) in cols, (table, r.field(flavor))

        # Users change two contacts and one lead in the CRM: the next pull reads just those.
        contact = resolve(flavor, "Contact")
        changed = sb.store.touch(contact, 2, "LastName" if flavor == "salesforce" else "lastname")
        sb.store.touch(resolve(flavor, "Lead"), 1)
        # plus the ids of every contact and account, listed to find deleted records (baseline.py)
        assert first["ids_listed"] == sb.store.count(contact.name) + sb.store.count(resolve(flavor, "Account").name)
        assert sb.stats()["records_read"] == first["rows"] + first["ids_listed"]
        sb.reset_stats()
        second = pull(settings, sb.url, flavor, sb.credentials)
        # The API served the changed rows plus at most the boundary row of each table (the cursor
        # filter is ">=", dlt drops the row it already has), not the whole CRM again.
        assert 3 <= sb.stats()["records_read"] - second["ids_listed"] <= 3 + len(expected)
        assert {t: n for t, n in second["tables"].items() if n} == {
            f"{flavor}_contact": 2,
            f"{flavor}_lead": 1,
        }
        id_col = SNAKE.normalize_identifier(contact.id_field)
        last_col = SNAKE.normalize_identifier("LastName" if flavor == "salesforce" else "lastname")
        with connect(settings) as wh:
            assert wh.scalar(f"select count(*) from raw_crm.{flavor}_contact") == sb.store.count(
                "Contact" if flavor == "salesforce" else "contact"
            )
            ends = wh.query_rows(f"select {last_col} from raw_crm.{flavor}_contact where {id_col} in (?, ?)", changed)
        assert len(ends) == 2 and all(r[0].endswith("*") for r in ends)
        assert pull(settings, sb.url, flavor, sb.credentials)["rows"] == 0


def test_pull_pages_and_survives_throttling(tmp_path, monkeypatch):
    settings = settings_for(tmp_path, monkeypatch, crm_timeout=2.0)
    with CrmSandbox(settings.sandbox_dir, "dynamics") as sb:
        sb.add_faults(
            {
                "faults": [
                    {"kind": "429", "times": 2, "retry_after": 1, "match": "/api/data/"},
                    {"kind": "500", "times": 1, "match": "/api/data/"},
                ]
            }
        )
        result = pull_paged(settings, sb.url, "dynamics", sb.credentials, page_size=2)
        stats = sb.stats()
        assert stats["faults"] == 3
        # 6 records per entity at 2 a page: three pages each (plus the retried requests).
        assert stats["GET query"] >= 3 * len(result["tables"])
        assert result["rows"] == sum(sb.store.count(c) for c in _expected_tables("dynamics").values())
        with connect(settings) as wh:
            assert wh.scalar("select count(*) from raw_crm.dynamics_contact") == sb.store.count("contact")
            assert wh.scalar("select count(distinct contactid) from raw_crm.dynamics_contact") == sb.store.count(
                "contact"
            )


def _raw_tables(settings) -> dict[str, tuple[list[tuple], list[tuple]]]:
    """Per raw_crm table: (column names and types, rows without dlt's own ids), comparable across warehouses."""
    out = {}
    with connect(settings) as wh:
        tables = [r[0] for r in wh.query_rows(
            "select table_name from information_schema.tables where table_schema = 'raw_crm' "
            "and table_name not like '\\_dlt%' escape '\\'")]  # fmt: skip
        for t in tables:
            cols = wh.query_rows(
                "select column_name, data_type from information_schema.columns "
                "where table_schema = 'raw_crm' and table_name = ? order by ordinal_position",
                [t],
            )
            names = ", ".join(f'"{c}"' for c, _ in cols if not c.startswith("_dlt"))
            out[t] = (cols, sorted(wh.query_rows(f"select {names} from raw_crm.{t}"), key=repr))
    return out


def test_arrow_pages_land_what_dlt_lands_from_dict_rows(tmp_path, monkeypatch):
    """Pages go to dlt as typed Arrow tables (fast); the tables, types and values are those dlt
    makes of the same pages as dict rows. Salesforce's flavour: its timestamps carry milliseconds
    and a ``+0000`` zone (Dataverse's whole seconds and ``Z`` are the easier case)."""
    flavor = "salesforce"
    from dlt_pipelines.crm import source

    typed = []
    real = source.arrow_page

    def counted(rows, hints):
        table = real(rows, hints)
        typed.append(table is not None)
        return table

    with CrmSandbox(tmp_path / "sandbox", flavor) as sb:
        monkeypatch.setattr(source, "arrow_page", counted)
        fast = settings_for(tmp_path / "arrow", monkeypatch)
        pull(fast, sb.url, flavor, sb.credentials)
        assert typed and all(typed)  # every page went as a table
        landed = _raw_tables(fast)  # read now: the environment points at one warehouse at a time
        monkeypatch.setattr(source, "arrow_page", lambda rows, hints: None)
        for name in fast.env():  # a second warehouse: nothing of the first one's environment stays
            monkeypatch.delenv(name, raising=False)
        slow = settings_for(tmp_path / "dicts", monkeypatch)
        pull(slow, sb.url, flavor, sb.credentials)
    assert landed == _raw_tables(slow)


def test_arrow_page_leaves_what_it_cannot_type_to_dlt():
    from dlt_pipelines.crm.source import arrow_page

    hints = {"id": {"data_type": "text"}, "amount": {"data_type": "double"}, "modifiedon": {"data_type": "timestamp"}}
    ok = [{"id": "a", "amount": 2, "modifiedon": "2024-01-02T03:04:05Z"}, {"id": "b", "amount": None}]
    table = arrow_page(ok, hints)
    assert table is not None and table.num_rows == 2
    assert table.column("amount").to_pylist() == [2.0, None]
    assert str(table.schema.field("modifiedon").type) == "timestamp[us, tz=UTC]"
    assert table.column("modifiedon")[0].as_py().isoformat() == "2024-01-02T03:04:05+00:00"
    for bad in (
        {"id": "c", "other": 1},  # a column without a hint
        {"id": 7},  # a number in a text column
        {"id": "c", "amount": True},  # a boolean is not a number
        {"id": "c", "amount": "3"},  # text in a number column
        {"id": "c", "modifiedon": "2024-01-02 03:04:05"},  # a time without a zone
    ):
        assert arrow_page([*ok, bad], hints) is None, bad
