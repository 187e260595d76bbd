{{
    config(
        materialized='incremental',
        unique_key='cust_address_key',
        incremental_strategy='delete+insert',
        on_schema_change='fail'
    )
}}
{#- stg_archtics__cust_addresses: one row per address of a name.
    Typed copy of raw_archtics.cust_address (every value arrives as text); the latest landed row wins per business key
    (acct_id, cust_name_id, cust_address_id). Source column names are kept so a real export maps on without renaming. -#}
{%- set columns = {
    'acct_id': 'bigint',
    'cust_name_id': 'bigint',
    'cust_address_id': 'bigint',
    'address_type': 'varchar',
    'address_type_name': 'varchar',
    'primary_ind': 'varchar',
    'street_addr_1': 'varchar',
    'street_addr_2': 'varchar',
    'city': 'varchar',
    'state': 'varchar',
    'zip': 'varchar',
    'country': 'varchar',
    'county': 'varchar',
    'seasonal': 'varchar',
    'start_date': 'date',
    'end_date': 'date',
    'name_prefix': 'varchar',
    'name_first': 'varchar',
    'name_middle': 'varchar',
    'name_last': 'varchar',
    'name_suffix': 'varchar',
    'nick_name': 'varchar',
    'company_name': 'varchar',
    'full_name': 'varchar',
    'primary_code': 'varchar',
    'name_type': 'varchar'
} -%}

with

{{ kore_staged_latest(
    source('archtics', 'cust_address'),
    columns,
    ['acct_id', 'cust_name_id', 'cust_address_id'],
    'load_id desc, source_line desc',
    key_name='cust_address_key'
) }}

select
    cust_address_key,
    {%- for column in columns %}
    {{ column }},
    {%- endfor %}
    case when upper(primary_ind) in ('Y', '1', 'T', 'TRUE', 'YES') then 1 else 0 end as is_primary_address,
    {{ kore_staged_row_hash(columns.keys() | list) }} as row_hash,
    load_id,
    source_file,
    source_line,
    batch.batch_load_id
from ranked
cross join batch
where ranked.latest_rank = 1
