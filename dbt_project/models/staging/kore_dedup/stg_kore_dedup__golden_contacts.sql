{#- stg_kore_dedup__golden_contacts: the dedup step's golden contacts (kore_dedup.golden_contacts), typed:
    one row per cluster with the contact fields pushed to the CRM and the CRM account it belongs to.
    Per-field provenance columns stay the dedup step's own. A column the table lacks is a typed null. -#}
{%- set golden = source('kore_dedup', 'golden_contacts') -%}
{%- set available = kore_relation_columns(golden) %}

with golden as (

    select * from {{ golden }}

)

select
    {{ kore_raw_column(available, 'contact_key', 'varchar') }} as contact_key,
    {{ kore_raw_column(available, 'crm_contact_id', 'varchar') }} as crm_contact_id,
    {{ kore_raw_column(available, 'cluster_id', 'varchar') }} as cluster_id,
    {{ kore_raw_column(available, 'account_key', 'varchar') }} as account_key,
    {{ kore_raw_column(available, 'first_name', 'varchar') }} as first_name,
    {{ kore_raw_column(available, 'last_name', 'varchar') }} as last_name,
    {{ kore_raw_column(available, 'email', 'varchar') }} as email,
    {{ kore_raw_column(available, 'phone', 'varchar') }} as phone,
    {{ kore_raw_column(available, 'street', 'varchar') }} as street,
    {{ kore_raw_column(available, 'city', 'varchar') }} as city,
    {{ kore_raw_column(available, 'state', 'varchar') }} as state,
    {{ kore_raw_column(available, 'zip5', 'varchar') }} as zip5,
    {{ kore_raw_column(available, 'company', 'varchar') }} as company,
    {{ kore_raw_column(available, 'birth_date', 'date') }} as birth_date,
    {{ kore_raw_column(available, 'primary_acct_id', 'bigint') }} as primary_acct_id
from golden
