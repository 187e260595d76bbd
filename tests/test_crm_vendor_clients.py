"""Contract tests: the vendors' own clients, over real HTTPS on loopback, judge the sandbox CRM.

Microsoft's Dataverse SDK (`powerplatform-dataverse-client`) and simple-salesforce were written
against the real services, not against this project; if the sandbox spoke a dialect of its own they
would fail here. (Both are in the dev extra.)
"""

from __future__ import annotations

import json

import pytest

from crm_clients import DynamicsClient, SalesforceClient, make_client
from crm_clients.http import make_session
from sandbox.crm_api import CrmSandbox

dataverse = pytest.importorskip("PowerPlatform.Dataverse.client")


class _Credential:
    """An azure-core TokenCredential: tokens from the sandbox's token endpoint, through msal."""

    def __init__(self, client: DynamicsClient):
        self.client = client

    def get_token(self, *scopes, **kwargs):
        from azure.core.credentials import AccessToken

        return AccessToken(self.client.token(), 2**31 - 1)


def test_dataverse_sdk_lists_reads_creates_upserts(tmp_path, monkeypatch):
    # An entity set no rule would guess: clients must read it from EntityDefinitions.
    with CrmSandbox(tmp_path, "dynamics", entity_sets={"koreps_season": "koreps_seasonset"}) as sb:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", sb.credentials["ca_bundle"])
        ours = DynamicsClient(sb.url, sb.credentials)
        dv = dataverse.DataverseClient(sb.url, _Credential(ours))
        tables = {t["LogicalName"]: t for t in dv.tables.list()}
        assert tables["koreps_season"]["EntitySetName"] == "koreps_seasonset"
        assert tables["fax"]["EntitySetName"] == "faxes"

        rid = dv.records.create("koreps_season", {"koreps_name": "2026", "koreps_externalkey": "S-1"})
        got = dv.records.get("koreps_season", rid)
        assert got["koreps_name"] == "2026" and got["koreps_externalkey"] == "S-1"

        dv.records.upsert(
            "koreps_season", [{"alternate_key": {"koreps_externalkey": "S-1"}, "record": {"koreps_name": "2026/27"}}]
        )
        dv.records.upsert(
            "koreps_season", [{"alternate_key": {"koreps_externalkey": "S-2"}, "record": {"koreps_name": "2027"}}]
        )
        names = sorted(r["koreps_name"] for r in sb.records("Season"))
        assert names == ["2026/27", "2027"]

        # $batch as the SDK encodes it (its own multipart writer and reader, not ours): a change set
        # of two creates, then one that fails and rolls back whole.
        batch = dv.batch.new()
        with batch.changeset() as cs:
            cs.records.create("koreps_season", {"koreps_name": "B1", "koreps_externalkey": "S-B1"})
            cs.records.create("koreps_season", {"koreps_name": "B2", "koreps_externalkey": "S-B2"})
        assert not batch.execute().has_errors
        bad = dv.batch.new()
        with bad.changeset() as cs:
            cs.records.create("koreps_season", {"koreps_name": "B3", "koreps_externalkey": "S-B3"})
            cs.records.create("koreps_season", {"koreps_name": "x" * 101, "koreps_externalkey": "S-B4"})
        assert bad.execute(continue_on_error=True).has_errors
        keys = sorted(r["koreps_externalkey"] for r in sb.records("Season"))
        assert keys == ["S-1", "S-2", "S-B1", "S-B2"]

        # A refusal comes back in Microsoft's error shape, which the SDK reads into its HttpError.
        with pytest.raises(Exception, match="nosuchfield"):
            dv.records.create("koreps_season", {"koreps_name": "n", "nosuchfield": "x", "koreps_externalkey": "S-3"})

        # Our client takes the entity set from the same metadata (a pluralisation rule would 404).
        ours.open()
        assert ours.entity_set("koreps_season") == "koreps_seasonset"
        pages = list(ours.iter_pages("koreps_season", ["koreps_name"], "koreps_seasonid", "modifiedon", "", 10))
        assert sorted(r["koreps_name"] for p in pages for r in p) == ["2026/27", "2027", "B1", "B2"]


def test_dataverse_metadata_documents(tmp_path):
    with CrmSandbox(tmp_path, "dynamics") as sb:
        client = DynamicsClient(sb.url, sb.credentials)
        csdl = client.request("GET", client.api + "$metadata")
        assert csdl.status_code == 200 and b'<EntitySet Name="faxes" EntityType="mscrm.fax"' in csdl.content
        attrs = client.fields_of("contact")
        assert {"contactid", "kore_externalkey", "parentcustomerid"} <= attrs
        assert client.fields_of("no_such_table") is None


def test_simple_salesforce_describe_query_upsert_composite(tmp_path):
    from simple_salesforce import Salesforce

    with CrmSandbox(tmp_path, "salesforce") as sb:
        ours = SalesforceClient(sb.url, sb.credentials)  # JWT bearer flow
        token, instance = ours._login()
        sf = Salesforce(
            instance_url=instance, session_id=token, session=make_session(sb.credentials["ca_bundle"]), version="60.0"
        )
        ext = "koreps__KORE_External_Key__c"
        desc = sf.koreps__Season__c.describe()
        by_name = {f["name"]: f for f in desc["fields"]}
        assert by_name[ext]["externalId"] and by_name["Name"]["type"] == "string"
        assert "Contact" in {o["name"] for o in sf.describe()["sobjects"]}

        assert sf.koreps__Season__c.upsert(f"{ext}/S-1", {"Name": "2026"}) == 201
        assert sf.koreps__Season__c.upsert(f"{ext}/S-1", {"Name": "2026/27"}) == 200

        records = [{"attributes": {"type": "koreps__Season__c"}, "Name": f"n{i}", ext: f"B-{i}"} for i in range(250)]
        for part in (records[:200], records[200:]):
            res = sf.restful(
                f"composite/sobjects/koreps__Season__c/{ext}",
                method="PATCH",
                data=json.dumps({"allOrNone": False, "records": part}),
            )
            assert all(r["success"] and r["created"] for r in res)

        first = sf.query("SELECT Id, Name FROM koreps__Season__c", headers={"Sforce-Query-Options": "batchSize=200"})
        assert not first["done"] and first["nextRecordsUrl"]
        everything = sf.query_all("SELECT Id, Name FROM koreps__Season__c")
        assert everything["totalSize"] == 251

        # Errors in Salesforce's shape: simple-salesforce raises with the list as content.
        from simple_salesforce.exceptions import SalesforceMalformedRequest

        with pytest.raises(SalesforceMalformedRequest) as err:
            sf.koreps__Season__c.upsert(f"{ext}/S-2", {"NoSuchField__c": "x"})
        assert err.value.content[0]["errorCode"] and "fields" in err.value.content[0]


@pytest.mark.parametrize("flavor", ["dynamics", "salesforce"])
def test_expired_token_is_refreshed_once(tmp_path, flavor):
    with CrmSandbox(tmp_path, flavor) as sb:
        client = make_client(flavor, sb.url, sb.credentials, 5.0)
        client.open()
        name = "koreps_season" if flavor == "dynamics" else "koreps__Season__c"
        fields = ["koreps_name"] if flavor == "dynamics" else ["Name"]
        id_field, mod = ("koreps_seasonid", "modifiedon") if flavor == "dynamics" else ("Id", "SystemModstamp")
        list(client.iter_pages(name, fields, id_field, mod, client.epoch, 100))
        before = sb.stats().get("POST token", 0)
        sb.revoke_tokens()  # every session expires: the next call is answered 401
        list(client.iter_pages(name, fields, id_field, mod, client.epoch, 100))
        assert sb.stats().get("POST token", 0) == before + 1
