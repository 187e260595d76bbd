{{
    config(
        materialized='incremental',
        unique_key='cust_email_key',
        incremental_strategy='delete+insert',
        on_schema_change='fail'
    )
}}
{#- stg_archtics__cust_emails: one row per email address of a name.
    Typed copy of raw_archtics.cust_email (every value arrives as text); the latest landed row wins per business key
    (acct_id, cust_name_id, email_id). Source column names are kept so a real export maps on without renaming. -#}
{%- set columns = {
    'acct_id': 'bigint',
    'cust_name_id': 'bigint',
    'email_id': 'bigint',
    'email_type': 'varchar',
    'email_type_name': 'varchar',
    'email_addr': 'varchar',
    'primary_ind': 'varchar',
    'email_sort': 'bigint',
    'status': 'varchar',
    'solicit_email': 'varchar'
} -%}

with

{{ kore_staged_latest(
    source('archtics', 'cust_email'),
    columns,
    ['acct_id', 'cust_name_id', 'email_id'],
    'load_id desc, source_line desc',
    key_name='cust_email_key'
) }}

select
    cust_email_key,
    {%- for column in columns %}
    {{ column }},
    {%- endfor %}
    case when upper(primary_ind) in ('Y', '1', 'T', 'TRUE', 'YES') then 1 else 0 end as is_primary_email,
    {{ kore_staged_row_hash(columns.keys() | list) }} as row_hash,
    load_id,
    source_file,
    source_line,
    batch.batch_load_id
from ranked
cross join batch
where ranked.latest_rank = 1
