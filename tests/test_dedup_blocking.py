"""Same candidates everywhere: the dbt view and the Python blocking come from one definition.

``dedup.blocking.BLOCKING_KEYS`` defines the keys; the dbt model file is generated from it. Here the
generated view runs (dbt, DuckDB) on the same normalised records the Python blocking sees, and the
two pair sets must be equal -- including the keys that find a person's accounts at two employers.
"""

from __future__ import annotations

import duckdb
import pandas as pd
import pytest

from dbt_build.runner import run_dbt
from dedup.blocking import DEFAULT_MAX_BLOCK, VIEW_FILE, blocking_keys, candidate_pairs, candidate_view_sql
from dedup.records import excluded, norm_with_keys
from kore.config import Settings
from kore.contracts.person_fields import PERSON_RECORD_COLUMNS
from tests import dbt_fixture
from tests.test_dedup_fixtures import all_records, arch, crm, frame


def test_view_file_is_generated_from_the_keys() -> None:
    assert VIEW_FILE.read_text() == candidate_view_sql(), "run `python -m dedup.blocking` after changing the keys"


def tricky_records() -> pd.DataFrame:
    """Swaps, typos, a missing first name, a moved person, an oversized block, an excluded record."""
    rows = [
        # Gabriel at his previous employer: other e-mail, phone and address (name only in common)
        crm("gab-new", first_name="Gabriel", last_name="Tremblay", email="gabriel.tremblay@sss.com",
            phone="5145550199", company="Sporting Service Solutions Inc", street="400 Rue Sainte-Catherine",
            city="Montreal", zip5="10001"),
        arch(5001, first_name="Gabriel", last_name="Tremblay", email="gt@trynowdo.com", phone="4505550123",
             company="TryNowDo Ltd", street="12 Old Mill Road", city="Laval", zip5="20002"),
        arch(5002, first_name="Holmes", last_name="Jane", street="3 Oak Close", zip5="30303"),  # swapped
        arch(5003, first_name="Jane", last_name="Holmes", street="3 Oak Cltose", zip5="30303"),  # typo street
        arch(5004, first_name="Aelx", last_name="Green", street="9 Pine Rd", zip5="40404"),
        arch(5005, first_name="Alex", last_name="Greecn", street="9 Pine Rd", zip5="40440"),  # typos + transposed
        arch(5006, last_name="Green", street="9 Pine Rd", zip5="40404"),  # missing first name
        arch(5007, first_name="Dennis", last_name="Ellis", email="dennis.ellis51@mail.com", zip5="50505"),
        crm("dennis", first_name="Dennis", last_name="Ellis", email="dennis.ellis51@mail.com", zip5="60606"),
        arch(5008, first_name="Ann", last_name="Lee", acct_type_desc="Comp", is_excluded_account_type=1,
             email="dennis.ellis51@mail.com"),  # excluded: never blocked
        crm("carries", first_name="Someone", last_name="Else", archtics_account_id_on_crm="5004"),
        # FEBRL's errors: a ZIP typo with a street and a surname typo (first name + city), and the
        # same with no first name at all (last name + city)
        arch(5009, first_name="Sophie", last_name="Conboy", street="24 Learmonth Dr Robe", city="St Albans",
             zip5="03136"),
        arch(5010, first_name="Sophie", last_name="Cnoboy", street="9 Learmonthh Dr", city="St Albans",
             zip5="03163"),
        arch(5011, last_name="Weller", street="2 Wittenoom Gcrescent", city="Ashford", zip5="04656"),
        arch(5012, last_name="Weller", street="7 Wittenoom Crescent", city="Ashford", zip5="04655"),
        # no first name, a surname typo and another house number (the street's name + ZIP); a first-name
        # typo with no surname (the first name's first letters + ZIP)
        arch(5013, last_name="Zimmermann", street="80 Booroondara St Tallinga Park", zip5="02226"),
        arch(5014, first_name="Erin", last_name="Zimmerrmnn", street="9 Booroondara St Tallinga Park",
             zip5="02226"),
        arch(5015, first_name="Haylqey", city="Denistone East", zip5="02766"),
        arch(5016, first_name="Hayley", last_name="Sherriff", street="Lewin Lodge", city="Denistone East",
             zip5="02766"),
    ]  # fmt: skip
    # a switchboard phone shared by more people than the block cap: that block is skipped
    rows += [
        arch(6000 + i, first_name=f"P{i}", last_name=f"Q{i}", phone="8005550000") for i in range(DEFAULT_MAX_BLOCK + 1)
    ]
    return pd.concat([all_records(), frame(rows)], ignore_index=True)


def python_pairs(records: pd.DataFrame) -> set[tuple[str, str]]:
    rec = records[~excluded(records)].reset_index(drop=True)
    li, ri, _ = candidate_pairs(rec)
    ids = rec["record_id"].to_numpy(dtype=object)
    return {(min(a, b), max(a, b)) for a, b in zip(ids[li], ids[ri], strict=True)}


@pytest.fixture(scope="module")
def view_pairs(tmp_path_factory: pytest.TempPathFactory) -> tuple[pd.DataFrame, set[tuple[str, str]]]:
    """Build the view's upstream once, swap in our records as ``dedup_person_records``, run the view."""
    settings = Settings(workdir=tmp_path_factory.mktemp("blocking"))
    dbt_fixture.build(settings.duckdb_path, with_dedup=False)
    run_dbt(settings, ["run", "--select", "+dedup_candidate_pairs"])
    records = norm_with_keys(tricky_records())[list(PERSON_RECORD_COLUMNS)]
    con = duckdb.connect(str(settings.duckdb_path))
    try:
        con.register("recs", records)
        con.execute("drop view dedup.dedup_person_records")
        con.execute("create table dedup.dedup_person_records as select * from recs")
    finally:
        con.close()
    run_dbt(settings, ["run", "--select", "dedup_candidate_pairs"])
    con = duckdb.connect(str(settings.duckdb_path), read_only=True)
    try:
        got = con.execute("select record_id_l, record_id_r, blocking_key from dedup.dedup_candidate_pairs").fetchall()
    finally:
        con.close()
    return records, {(a, b): k for a, b, k in got}


def test_view_and_python_blocking_give_the_same_pairs(view_pairs) -> None:
    records, view = view_pairs
    py = python_pairs(records)
    assert len(py) > 20
    assert set(view) == py


def test_keys_text_is_the_same_in_both(view_pairs) -> None:
    """Each view row's key is one of the Python keys the two records share."""
    records, view = view_pairs
    keys = pd.DataFrame(blocking_keys(records)).set_index(records["record_id"])
    for (a, b), key in view.items():
        assert key in set(keys.loc[a].dropna()) & set(keys.loc[b].dropna())


def test_hard_cases_are_candidates(view_pairs) -> None:
    _, view = view_pairs
    assert view[("A:5001:1", "C:gab-new")] == "name:gabriel:tremblay"  # one person, two employers
    assert ("A:5002:1", "A:5003:1") in view  # swapped first/last name
    assert ("A:5004:1", "A:5005:1") in view  # typo in first and last name, transposed ZIP
    assert ("A:5004:1", "A:5006:1") in view  # missing first name
    assert ("A:5007:1", "C:dennis") in view  # same e-mail at a new address
    assert view[("A:5004:1", "C:carries")] == "acct:5004"  # CRM contact carrying the account id
    # ZIP, street and surname typos: the first name and the town, or its first letters and the street's name
    assert view[("A:5009:1", "A:5010:1")] in {"first_city:sophie:st albans", "first3_sname:sop:learmont:031"}
    assert view[("A:5011:1", "A:5012:1")] == "last_city:weller:ashford"  # and without a first name
    assert view[("A:5013:1", "A:5014:1")].startswith("sname_")  # the street's name without the number
    assert view[("A:5015:1", "A:5016:1")].startswith("first3_")
    assert not any("A:5008:1" in p for p in view)  # excluded Account Type
    assert not any(k.startswith("phone:8005550000") for k in view.values())  # block over the cap
