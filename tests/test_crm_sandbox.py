"""The sandbox CRM behaves like the real APIs where the sync relies on it (real HTTPS, real clients)."""

from __future__ import annotations

import json

import pytest
import requests

from crm_clients import CrmClientError, DynamicsClient, SalesforceClient
from crm_clients.http import make_session
from kore.contracts import odata_batch
from sandbox.crm_api import CrmSandbox


def _season(client: DynamicsClient, cid: str, key: str, name: str, **headers: str) -> odata_batch.HttpMessage:
    m = client.upsert_message(
        "koreps_seasons", "koreps_externalkey", key, {"koreps_name": name}, "koreps_seasonid", cid
    )
    m.headers.update(headers)
    return m


def test_dynamics_store_survives_restart_and_change_sets_are_transactional(tmp_path):
    with CrmSandbox(tmp_path, "dynamics") as sb:
        client = DynamicsClient(sb.url, sb.credentials)  # msal client credentials against the sandbox
        creds = sb.credentials
        res = client.batch(
            [
                [_season(client, "1", "S1", "ok"), _season(client, "2", "S2", "x" * 101)],  # rolls back S1
                _season(client, "3", "S3", "ok"),
                _season(client, "4", "S4", "new", **{"If-Match": "*"}),  # update only: S4 does not exist
                _season(client, "5", "S3", "again", **{"If-None-Match": "*"}),  # create only: S3 exists
            ]
        )
        assert isinstance(res[0], odata_batch.HttpMessage) and res[0].status == 400 and res[0].content_id == "2"
        assert res[1].status == 201 and res[2].status == 404 and res[3].status == 412
        assert sorted(r["koreps_externalkey"] for r in sb.records("Season")) == ["S3"]
        with pytest.raises(Exception):  # noqa: B017 - more than 1,000 requests are refused whole
            client.batch([_season(client, str(i), f"K{i}", "n") for i in range(1001)])
        s3_id = sb.records("Season")[0]["koreps_seasonid"]
    # A restarted sandbox keeps its records and credentials (the push's next run relies on both).
    with CrmSandbox(tmp_path, "dynamics") as sb:
        assert sb.credentials["client_secret"] == creds["client_secret"]
        assert [r["koreps_seasonid"] for r in sb.records("Season")] == [s3_id]
        assert sb.app.seeded == {}  # not re-seeded
        unauth = make_session(sb.credentials["ca_bundle"]).get(f"{sb.url}/api/data/v9.2/koreps_seasons")
        assert unauth.status_code == 401


def test_salesforce_collections_validate_like_a_crm(tmp_path):
    with CrmSandbox(tmp_path, "salesforce") as sb:
        sf = SalesforceClient(sb.url, sb.credentials)
        ext = "koreps__KORE_External_Key__c"
        res = sf.upsert_collection(
            "koreps__Event__c",
            ext,
            [
                {"Name": "orphan", ext: "E1", "koreps__Season__r": {ext: "nope"}},
                {ext: "E2"},  # Name is required
                {"Name": "fine", ext: "E3", "koreps__Colour__c": "red"},
                {"Name": "bad", ext: "E4", "NotAField": 1},
            ],
        )
        assert [r["success"] for r in res] == [False, False, True, False]
        assert res[1]["errors"][0]["statusCode"] == "REQUIRED_FIELD_MISSING"
        assert res[2]["created"] is True
        again = sf.upsert_collection("koreps__Event__c", ext, [{"Name": "fine2", ext: "E3"}])
        assert again[0]["created"] is False and again[0]["id"] == res[2]["id"]
        too_many = {"allOrNone": False, "records": [{"Name": "n", ext: f"K{i}"} for i in range(201)]}
        with pytest.raises(Exception, match="EXCEEDED_ID_LIMIT"):  # refused whole, by the server
            sf.sf.restful(f"composite/sobjects/koreps__Event__c/{ext}", method="PATCH", data=json.dumps(too_many))
        # allOrNone: one bad record rolls back the good ones
        res = sf.upsert_collection(
            "koreps__Season__c", ext, [{"Name": "S", ext: "S1"}, {"Name": "x" * 101, ext: "S2"}], all_or_none=True
        )
        assert not any(r["success"] for r in res) and sb.records("Season") == []
        stats = requests.get(f"{sb.url}/admin/stats", verify=sb.credentials["ca_bundle"], timeout=5).json()
        assert stats["PATCH collections"] == 4 and stats["POST token"] == 1
        faults = requests.post(
            f"{sb.url}/admin/faults", json={"record_errors": ["S9"]}, verify=sb.credentials["ca_bundle"], timeout=5
        ).json()
        assert faults["record_errors"] == {"S9": "injected record error"}
        assert not sf.upsert_collection("koreps__Season__c", ext, [{"Name": "S", ext: "S9"}])[0]["success"]
        # The username + password + security token flow works too; a wrong password is refused.
        pw = SalesforceClient(sb.url, {**sb.credentials, "grant_type": "password"})
        assert len(next(pw.query_pages("SELECT Id, Name FROM User"))) == len(sb.records("User"))
        with pytest.raises(CrmClientError, match="token request .* failed: .*invalid_grant"):
            SalesforceClient(sb.url, {**sb.credentials, "grant_type": "password", "password": "wrong"})._login()


def test_generator_seed_is_loaded_in_both_flavours(tmp_path):
    seed = tmp_path / "crm_seed"
    seed.mkdir()
    rows = [
        {"crm_id": "u-1", "full_name": "Pat Rep", "email": "pat@club.example", "modified_at": "2025-01-02 03:04:05"},
    ]
    (seed / "users.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    contacts = [
        {
            "crm_id": "c-1",
            "first_name": "Ann",
            "last_name": "Lee",
            "owner_user_id": "u-1",
            "created_at": "2020-05-06 07:08:09",
            "modified_at": "2025-02-03 04:05:06",
        },
    ]
    (seed / "contacts.jsonl").write_text("\n".join(json.dumps(r) for r in contacts))
    for flavor, owner, created, modified in (
        ("dynamics", "_ownerid_value", "createdon", "modifiedon"),
        ("salesforce", "OwnerId", "CreatedDate", "SystemModstamp"),
    ):
        with CrmSandbox(tmp_path, flavor) as sb:
            contact = next(c for c in sb.records("Contact") if c.get(owner) == "u-1")
            assert contact[created].startswith("2020-05-06T07:08:09")
            assert contact[modified].startswith("2025-02-03T04:05:06")
            assert len(sb.records("User")) == 1  # the seed covers users: no synthetic ones
            assert len(sb.records("Lead")) > 0  # entities the seed does not cover get synthetic rows
