{#- stg_archtics__cust_reps: one row per account rep assignment.
    Typed copy of raw_archtics.cust_rep (every value arrives as text); the latest landed row wins per business key
    (acct_id, acct_rep_id, acct_rep_type). Source column names are kept so a real export maps on without renaming. -#}
{%- set columns = {
    'acct_id': 'bigint',
    'acct_rep_id': 'bigint',
    'acct_rep_type': 'varchar',
    'acct_rep_type_name': 'varchar',
    'rep_cust_name_id': 'bigint',
    'rep_name_first': 'varchar',
    'rep_name_middle': 'varchar',
    'rep_name_last': 'varchar',
    'rep_name_title': 'varchar',
    'rep_company_name': 'varchar',
    'rep_nick_name': 'varchar',
    'rep_name_last_first_mi': 'varchar',
    'rep_full_name': 'varchar',
    'rep_user_id': 'varchar',
    'rep_email_addr': 'varchar',
    'rep_phone': 'varchar',
    'rep_phone_formatted': 'varchar'
} -%}

with

{{ kore_staged_latest(
    source('archtics', 'cust_rep'),
    columns,
    ['acct_id', 'acct_rep_id', 'acct_rep_type'],
    'load_id desc, source_line desc'
) }}

select
    {%- for column in columns %}
    {{ column }},
    {%- endfor %}
    {{ kore_staged_row_hash(columns.keys() | list) }} as row_hash,
    load_id,
    source_file,
    source_line
from ranked
where latest_rank = 1
