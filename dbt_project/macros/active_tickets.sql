{#- The Archtics active-ticket rule, as CTEs over a CTE of staged ticket rows (`tickets`), so the
    full view (int_tickets_activated) and the incremental fact (fct_ticket_purchases, over just the
    seats a run touches) apply one definition.

    Active = active ('A') per-event rows, plus active plan-level rows (plan_event_id = event_id) for
    which Archtics has no expanded per-event row of the same plan and seat. An active row is
    cancelled by a later returned ('R') row of the same account, event, section, row and seat.

    Emits `returned_tickets` and `activated_tickets` (the columns listed in
    kore_activated_ticket_columns() plus activation_rule 'event' | 'plan'). `tickets` may be a CTE or
    a relation; each branch reads it itself, and no wide CTE is read twice: DuckDB materialises a CTE
    that two others read, which at 10M ticket rows held every column of them in memory. -#}
{% macro kore_activated_ticket_columns() -%}
    {{ return([
        'ticket_key', 'acct_id', 'event_id', 'event_name', 'plan_event_id', 'plan_event_name',
        'section_id', 'section_name', 'row_id', 'row_name', 'seat_num', 'last_seat', 'num_seats',
        'ticket_status', 'tran_type', 'order_num', 'order_line_item', 'price_code', 'price_code_desc',
        'ticket_type', 'class_name', 'full_price', 'purchase_price', 'block_purchase_price', 'paid_amount',
        'owed_amount', 'disc_amount', 'surchg_amount', 'comp_code', 'promo_code', 'sales_source_name',
        'acct_rep_id', 'renewal_ind', 'add_datetime', 'upd_datetime', 'is_plan_level_row', 'row_hash'
    ]) }}
{%- endmacro %}

{% macro kore_activated_tickets(tickets) -%}
{%- set columns = kore_activated_ticket_columns() -%}
returned_tickets as (

    select
        acct_id,
        event_id,
        section_id,
        row_id,
        seat_num,
        upd_datetime
    from {{ tickets }}
    where ticket_status = 'R'

),

activated_tickets as (

    select
        {%- for column in columns %}
        candidate.{{ column }},
        {%- endfor %}
        'event' as activation_rule
    from {{ tickets }} as candidate
    where
        candidate.ticket_status = 'A'
        and candidate.is_plan_level_row = 0
        and {{ kore_not_returned('candidate') }}

    union all

    select
        {%- for column in columns %}
        candidate.{{ column }},
        {%- endfor %}
        'plan' as activation_rule
    from {{ tickets }} as candidate
    where
        candidate.ticket_status = 'A'
        and candidate.is_plan_level_row = 1
        and {{ kore_not_returned('candidate') }}
        and not exists (
            select 1
            from {{ tickets }} as expanded
            where
                expanded.is_plan_level_row = 0
                and expanded.plan_event_id = candidate.event_id
                and expanded.section_id = candidate.section_id
                and expanded.row_id = candidate.row_id
                and expanded.seat_num = candidate.seat_num
        )

)
{%- endmacro %}

{#- An active row no later return of the same account, event, section, row and seat cancels
    (over the returned_tickets CTE of kore_activated_tickets). -#}
{% macro kore_not_returned(candidate) -%}
not exists (
            select 1
            from returned_tickets
            where
                returned_tickets.acct_id = {{ candidate }}.acct_id
                and returned_tickets.event_id = {{ candidate }}.event_id
                and returned_tickets.section_id = {{ candidate }}.section_id
                and returned_tickets.row_id = {{ candidate }}.row_id
                and returned_tickets.seat_num = {{ candidate }}.seat_num
                and returned_tickets.upd_datetime > {{ candidate }}.upd_datetime
        )
{%- endmacro %}
