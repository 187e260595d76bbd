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

{%- set available = kore_relation_columns(source('archtics', 'cust_email')) %}

with source as (

    select * from {{ source('archtics', 'cust_email') }}

),

typed as (

    select
        {%- for column, data_type in columns.items() %}
        {{ kore_raw_column(available, column, data_type) }} as {{ column }},
        {%- endfor %}
        _dlt_load_id as load_id,
        _source_file as source_file,
        {{ kore_to_bigint('_source_line') }} as source_line
    from source

),

ranked as (

    select
        typed.*,
        row_number() over (
            partition by acct_id, cust_name_id, email_id
            order by load_id desc, source_line desc
        ) as latest_rank
    from typed

)

select
    {%- for column in columns %}
    {{ column }},
    {%- endfor %}
    case when upper(primary_ind) in ('Y', '1', 'T', 'TRUE', 'YES') then 1 else 0 end as is_primary_email,
    {{ kore_row_hash(columns.keys() | list) }} as row_hash,
    load_id,
    source_file,
    source_line
from ranked
where latest_rank = 1
