{{
    config(
        materialized='incremental',
        unique_key='ticket_key',
        incremental_strategy='delete+insert',
        on_schema_change='fail'
    )
}}
{#- stg_archtics__tickets: one row per seat block and status.
    Typed copy of raw_archtics.ticket (every value arrives as text); the newest upd_datetime wins per business key
    (event_id, section_id, row_id, seat_num, ticket_status, return_datetime). Source column names are kept so a real export maps on without renaming. -#}
{%- set columns = {
    'acct_id': 'bigint',
    'event_id': 'bigint',
    'event_name': 'varchar',
    'plan_event_id': 'bigint',
    'plan_event_name': 'varchar',
    'section_id': 'bigint',
    'section_name': 'varchar',
    'row_id': 'bigint',
    'row_name': 'varchar',
    'seat_num': 'bigint',
    'last_seat': 'bigint',
    'num_seats': 'bigint',
    'ticket_status': 'varchar',
    'tran_type': 'varchar',
    'order_num': 'bigint',
    'order_line_item': 'bigint',
    'order_line_item_seq': 'bigint',
    'price_code': 'varchar',
    'price_code_desc': 'varchar',
    'ticket_type': 'varchar',
    'class_name': 'varchar',
    'full_price': 'decimal',
    'purchase_price': 'decimal',
    'block_purchase_price': 'decimal',
    'paid_amount': 'decimal',
    'owed_amount': 'decimal',
    'disc_code': 'varchar',
    'disc_amount': 'decimal',
    'surchg_amount': 'decimal',
    'comp_code': 'varchar',
    'comp_name': 'varchar',
    'promo_code': 'varchar',
    'sell_location': 'varchar',
    'sales_source_name': 'varchar',
    'acct_rep_id': 'bigint',
    'renewal_ind': 'varchar',
    'return_reason': 'varchar',
    'return_datetime': 'timestamp',
    'delivery_method': 'varchar',
    'add_datetime': 'timestamp',
    'add_user': 'varchar',
    'upd_datetime': 'timestamp',
    'upd_user': 'varchar'
} -%}

with

{{ kore_staged_latest(
    source('archtics', 'ticket'),
    columns,
    ['event_id', 'section_id', 'row_id', 'seat_num', 'ticket_status', 'return_datetime'],
    'upd_datetime desc, load_id desc, source_line desc',
    key_name='ticket_key'
) }}

select
    ticket_key,
    {%- for column in columns %}
    {{ column }},
    {%- endfor %}
    case when plan_event_id = event_id then 1 else 0 end as is_plan_level_row,
    {{ kore_staged_row_hash(columns.keys() | list) }} as row_hash,
    load_id,
    source_file,
    source_line,
    batch.batch_load_id
from ranked
cross join batch
where ranked.latest_rank = 1
