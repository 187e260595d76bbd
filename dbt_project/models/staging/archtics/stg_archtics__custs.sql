{{
    config(
        materialized='incremental',
        unique_key='cust_name_key',
        incremental_strategy='delete+insert',
        on_schema_change='fail'
    )
}}
{#- stg_archtics__custs: one row per Archtics name (acct_id, cust_name_id).
    Typed copy of raw_archtics.cust (every value arrives as text); the newest upd_date wins per business key
    (acct_id, cust_name_id). Source column names are kept so a real export maps on without renaming. -#}
{%- set columns = {
    'acct_id': 'bigint',
    'cust_name_id': 'bigint',
    'primary_code': 'varchar',
    'rec_status': 'varchar',
    'acct_type_desc': 'varchar',
    'name_type': 'varchar',
    'salutation': 'varchar',
    'name_first': 'varchar',
    'name_mi': 'varchar',
    'name_last': 'varchar',
    'name_title': 'varchar',
    'company_name': 'varchar',
    'street_addr_1': 'varchar',
    'street_addr_2': 'varchar',
    'city': 'varchar',
    'state': 'varchar',
    'zip': 'varchar',
    'country': 'varchar',
    'phone_day': 'varchar',
    'phone_eve': 'varchar',
    'phone_cell': 'varchar',
    'phone_fax': 'varchar',
    'email_addr': 'varchar',
    'email_addr2': 'varchar',
    'birth_date': 'date',
    'gender': 'varchar',
    'acct_rep_num': 'varchar',
    'acct_rep_name': 'varchar',
    'points': 'decimal',
    'points_ytd': 'decimal',
    'points_itd': 'decimal',
    'since_date': 'date',
    'old_acct_id': 'bigint',
    'household_id': 'bigint',
    'solicit_email': 'varchar',
    'solicit_addr': 'varchar',
    'solicit_phone_day': 'varchar',
    'solicit_phone_eve': 'varchar',
    'solicit_phone_cell': 'varchar',
    'add_date': 'timestamp',
    'add_user': 'varchar',
    'upd_date': 'timestamp',
    'upd_user': 'varchar',
    'other_info_1': 'varchar',
    'other_info_2': 'varchar',
    'other_info_3': 'varchar',
    'other_info_4': 'varchar',
    'other_info_5': 'varchar',
    'other_info_6': 'varchar',
    'other_info_7': 'varchar',
    'other_info_8': 'varchar',
    'other_info_9': 'varchar',
    'other_info_10': 'varchar',
    'other_info_11': 'varchar',
    'other_info_12': 'varchar',
    'other_info_13': 'varchar',
    'other_info_14': 'varchar',
    'other_info_15': 'varchar',
    'other_info_16': 'varchar',
    'other_info_17': 'varchar',
    'other_info_18': 'varchar',
    'other_info_19': 'varchar',
    'other_info_20': 'varchar'
} -%}

with

{{ kore_staged_latest(
    source('archtics', 'cust'),
    columns,
    ['acct_id', 'cust_name_id'],
    'upd_date desc, load_id desc, source_line desc',
    key_name='cust_name_key'
) }}

select
    cust_name_key,
    {%- for column in columns %}
    {{ column }},
    {%- endfor %}
    case when primary_code = 'Primary' then 1 else 0 end as is_primary_name,
    case when name_type = 'C' then 1 else 0 end as is_company,
    {{ kore_staged_row_hash(columns.keys() | list) }} as row_hash,
    load_id,
    source_file,
    source_line,
    batch.batch_load_id
from ranked
cross join batch
where ranked.latest_rank = 1
