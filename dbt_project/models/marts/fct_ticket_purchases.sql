{{
    config(
        materialized='incremental',
        unique_key='ticket_key',
        incremental_strategy='delete+insert',
        on_schema_change='fail'
    )
}}
{#- fct_ticket_purchases: every Archtics ticket row (active, returned, plan-level) with is_active from
    the active-ticket rule. Incremental on upd_datetime (and on the landing load_id, so a row that
    arrives late with an older change time is not missed): a run re-processes the rows that changed
    since the last run AND every row of the same seats, because a new returned row (or a new expanded plan
    row) changes whether an older row is still active. delete+insert on ticket_key works on DuckDB
    and SQL Server alike. -#}

with tickets as (

    select * from {{ ref('stg_archtics__tickets') }}

),

{%- if kore_is_incremental() %}

changed_seats as (

    select distinct
        event_id,
        plan_event_id,
        section_id,
        row_id,
        seat_num
    from tickets
    where
        upd_datetime > (select max(upd_datetime) from {{ this }})
        -- a row landed late (older change time than rows already built) still counts as new
        or load_id > (select max(load_id) from {{ this }})

),

in_scope as (

    select tickets.*
    from tickets
    where exists (
        select 1
        from changed_seats
        where
            changed_seats.section_id = tickets.section_id
            and changed_seats.row_id = tickets.row_id
            and changed_seats.seat_num = tickets.seat_num
            and (
                changed_seats.event_id = tickets.event_id
                or changed_seats.plan_event_id = tickets.event_id
            )
    )

),

{%- else %}

in_scope as (

    select * from tickets

),

{%- endif %}

activated as (

    select
        ticket_key,
        activation_rule
    from {{ ref('int_tickets_activated') }}

),

events as (

    select
        event_id,
        season_id,
        event_date
    from {{ ref('stg_archtics__events') }}

)

select
    in_scope.ticket_key,
    in_scope.acct_id,
    in_scope.event_id,
    in_scope.plan_event_id,
    events.season_id,
    events.event_date,
    in_scope.section_id,
    in_scope.section_name,
    in_scope.row_id,
    in_scope.row_name,
    in_scope.seat_num,
    in_scope.last_seat,
    in_scope.num_seats,
    in_scope.ticket_status,
    in_scope.is_plan_level_row,
    case when activated.ticket_key is null then 0 else 1 end as is_active,
    activated.activation_rule,
    in_scope.tran_type,
    in_scope.order_num,
    in_scope.order_line_item,
    in_scope.price_code,
    in_scope.ticket_type,
    in_scope.class_name,
    in_scope.full_price,
    in_scope.purchase_price,
    in_scope.paid_amount,
    in_scope.owed_amount,
    in_scope.disc_amount,
    in_scope.comp_code,
    in_scope.acct_rep_id,
    in_scope.renewal_ind,
    in_scope.return_reason,
    in_scope.return_datetime,
    in_scope.add_datetime,
    in_scope.upd_datetime,
    in_scope.row_hash,
    in_scope.load_id
from in_scope
left join activated
    on in_scope.ticket_key = activated.ticket_key
left join events
    on in_scope.event_id = events.event_id
