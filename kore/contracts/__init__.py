"""Contracts: the definitions every stage and the sandbox agree on, each written once.

- :mod:`kore.contracts.archtics`: Archtics datasets, their columns, business keys and change-time
  rules, and the account-merge note format.
- :mod:`kore.contracts.kore_apps`: the KORE apps' table layout (``SPEC``), from which the production
  ``kore_*base`` models are generated.
- :mod:`kore.contracts.person_fields`: the columns of a dedup person record (the dbt view
  ``dedup.dedup_person_records``, the dedup engine, file mode and the benchmarks).
- :mod:`kore.contracts.crm_names`: entity naming (``entity_snake``) and the CRM names of entities,
  fields and lookups, per flavour.
- :mod:`kore.contracts.odata_batch`: the OData ``$batch`` multipart encoding (Dataverse Web API).
- :mod:`kore.contracts.account_types`: the Account-Type rule (which accounts never sync to the CRM).
- :mod:`kore.contracts.checks`: the data-check result and the check plug-in interface (``kore.checks``).

Contracts import nothing above :mod:`kore.config` and :mod:`kore.registry`; stages, the
application layer and the sandbox import them, never the other way round.
"""
