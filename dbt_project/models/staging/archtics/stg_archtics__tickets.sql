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

{%- set available = kore_relation_columns(source('archtics', 'ticket')) %}

with source as (

    select * from {{ source('archtics', 'ticket') }}

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
            partition by event_id, section_id, row_id, seat_num, ticket_status, return_datetime
            order by upd_datetime desc, load_id desc, source_line desc
        ) as latest_rank
    from typed

)

select
    {{ kore_row_hash(
        ['event_id', 'section_id', 'row_id', 'seat_num', 'ticket_status', 'return_datetime']
    ) }} as ticket_key,
    {%- for column in columns %}
    {{ column }},
    {%- endfor %}
    case when plan_event_id = event_id then 1 else 0 end as is_plan_level_row,
    {{ kore_row_hash(columns.keys() | list) }} as row_hash,
    load_id,
    source_file,
    source_line
from ranked
where latest_rank = 1
