{#- int_tickets_activated: the seats an account actually holds (Archtics active-ticket rule).
    Active = active ('A') per-event rows, plus active plan-level rows (plan_event_id = event_id) for
    which Archtics has no expanded per-event row of the same plan and seat. An active row is
    cancelled by a later returned ('R') row of the same account, event, section, row and seat. -#}
{%- set columns = [
    'ticket_key', 'acct_id', 'event_id', 'event_name', 'plan_event_id', 'plan_event_name',
    'section_id', 'section_name', 'row_id', 'row_name', 'seat_num', 'last_seat', 'num_seats',
    'ticket_status', 'tran_type', 'order_num', 'order_line_item', 'price_code', 'price_code_desc',
    'ticket_type', 'class_name', 'full_price', 'purchase_price', 'block_purchase_price', 'paid_amount',
    'owed_amount', 'disc_amount', 'surchg_amount', 'comp_code', 'promo_code', 'sales_source_name',
    'acct_rep_id', 'renewal_ind', 'add_datetime', 'upd_datetime', 'is_plan_level_row', 'row_hash'
] -%}

with tickets as (

    select * from {{ ref('stg_archtics__tickets') }}

),

returned as (

    select
        acct_id,
        event_id,
        section_id,
        row_id,
        seat_num,
        upd_datetime
    from tickets
    where ticket_status = 'R'

),

active as (

    select tickets.*
    from tickets
    where
        tickets.ticket_status = 'A'
        and not exists (
            select 1
            from returned
            where
                returned.acct_id = tickets.acct_id
                and returned.event_id = tickets.event_id
                and returned.section_id = tickets.section_id
                and returned.row_id = tickets.row_id
                and returned.seat_num = tickets.seat_num
                and returned.upd_datetime > tickets.upd_datetime
        )

),

per_event as (

    select
        {%- for column in columns %}
        {{ column }},
        {%- endfor %}
        'event' as activation_rule
    from active
    where is_plan_level_row = 0

),

plan_level as (

    select
        {%- for column in columns %}
        active.{{ column }},
        {%- endfor %}
        'plan' as activation_rule
    from active
    where
        active.is_plan_level_row = 1
        and not exists (
            select 1
            from tickets as expanded
            where
                expanded.is_plan_level_row = 0
                and expanded.plan_event_id = active.event_id
                and expanded.section_id = active.section_id
                and expanded.row_id = active.row_id
                and expanded.seat_num = active.seat_num
        )

)

select * from per_event

union all

select * from plan_level
