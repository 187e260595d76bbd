{#- stg_kore_dedup__account_contact_map: the dedup step's mapping table (kore_dedup.account_contact_map),
    typed: each Archtics account's CRM contact (crm_contact_key, the contact's kore_external_key) and
    whether the account is that contact's primary one. The columns dbt models read; the match rule and
    score stay the dedup step's own (`kore dedup explain`). A column the table lacks is a typed null. -#}
{%- set mapping = source('kore_dedup', 'account_contact_map') -%}
{%- set available = kore_relation_columns(mapping) %}

with mapping as (

    select * from {{ mapping }}

)

select
    {{ kore_raw_column(available, 'acct_id', 'bigint') }} as acct_id,
    {{ kore_raw_column(available, 'crm_contact_key', 'varchar') }} as crm_contact_key,
    {{ kore_raw_column(available, 'crm_contact_id', 'varchar') }} as crm_contact_id,
    {{ kore_raw_column(available, 'cluster_id', 'varchar') }} as cluster_id,
    {{ kore_raw_column(available, 'is_primary', 'int') }} as is_primary,
    {{ kore_raw_column(available, 'first_seen_at', 'varchar') }} as first_seen_at,
    {{ kore_raw_column(available, 'decided_by', 'varchar') }} as decided_by
from mapping
