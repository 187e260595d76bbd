{{
    config(
        materialized='incremental',
        unique_key='ticket_key',
        incremental_strategy='delete+insert',
        on_schema_change='fail'
    )
}}
{#- fct_ticket_purchases: every Archtics ticket row (active, returned, plan-level) with is_active from
    the active-ticket rule (macros/active_tickets.sql).

    Incremental, and its cost follows the change: a run reads the staged rows of loads newer than the
    newest it already holds (`changed`), and re-decides every row of the same seats and events
    (`targets`), because a new returned row, or a new expanded row of a plan, changes whether an
    older row is still active. The rule needs, for those targets, the rows that can cancel them:
    returns of the same seat and event, and expanded rows of the same plan (`context`). delete+insert
    on ticket_key works on DuckDB and SQL Server alike. batch_load_id records the run that last
    re-decided a row, so models downstream (dim_account) know which accounts to refresh. -#}

{%- set incremental = kore_is_incremental() %}
{#- the staged table is read where it is needed, never through one CTE over all of it: DuckDB
    materialises a CTE that two others read (every column of 10M rows in a full build) -#}
{%- set context = 'context' if incremental else ref('stg_archtics__tickets') %}
{%- set targets = 'targets' if incremental else ref('stg_archtics__tickets') %}

with

{%- if incremental %}

changed as (

    select
        event_id,
        plan_event_id,
        section_id,
        row_id,
        seat_num
    from {{ ref('stg_archtics__tickets') }}
    where load_id > (select coalesce(max(load_id), '') from {{ this }})

),

scope_keys as (

    select
        section_id,
        row_id,
        seat_num,
        event_id as scope_event_id
    from changed

    union

    select
        section_id,
        row_id,
        seat_num,
        plan_event_id as scope_event_id
    from changed
    where plan_event_id is not null

),

context as (

    select tickets.*
    from {{ ref('stg_archtics__tickets') }} as tickets
    where
        exists (
            select 1
            from scope_keys
            where
                scope_keys.section_id = tickets.section_id
                and scope_keys.row_id = tickets.row_id
                and scope_keys.seat_num = tickets.seat_num
                and scope_keys.scope_event_id = tickets.event_id
        )
        or exists (
            select 1
            from scope_keys
            where
                scope_keys.section_id = tickets.section_id
                and scope_keys.row_id = tickets.row_id
                and scope_keys.seat_num = tickets.seat_num
                and scope_keys.scope_event_id = tickets.plan_event_id
        )

),

targets as (

    select context.*
    from context
    where exists (
        select 1
        from scope_keys
        where
            scope_keys.section_id = context.section_id
            and scope_keys.row_id = context.row_id
            and scope_keys.seat_num = context.seat_num
            and scope_keys.scope_event_id = context.event_id
    )

),

{%- endif %}

batch as (

    select max(load_id) as batch_load_id
    from {{ targets }}

),

{{ kore_activated_tickets(context) }},

events as (

    select
        event_id,
        event_name,
        season_id,
        event_date
    from {{ ref('stg_archtics__events') }}

)

select
    targets.ticket_key,
    targets.acct_id,
    targets.event_id,
    coalesce(targets.event_name, events.event_name) as event_name,
    targets.plan_event_id,
    targets.plan_event_name,
    events.season_id,
    events.event_date,
    targets.section_id,
    targets.section_name,
    targets.row_id,
    targets.row_name,
    targets.seat_num,
    targets.last_seat,
    targets.num_seats,
    targets.ticket_status,
    targets.is_plan_level_row,
    case when activated_tickets.ticket_key is null then 0 else 1 end as is_active,
    activated_tickets.activation_rule,
    targets.tran_type,
    targets.order_num,
    targets.order_line_item,
    targets.price_code,
    targets.price_code_desc,
    targets.ticket_type,
    targets.class_name,
    targets.full_price,
    targets.purchase_price,
    targets.paid_amount,
    targets.owed_amount,
    targets.disc_amount,
    targets.comp_code,
    targets.acct_rep_id,
    targets.renewal_ind,
    targets.return_reason,
    targets.return_datetime,
    targets.add_datetime,
    targets.upd_datetime,
    targets.row_hash,
    targets.load_id,
    batch.batch_load_id
from {{ targets }} as targets
cross join batch
left join activated_tickets
    on targets.ticket_key = activated_tickets.ticket_key
left join events
    on targets.event_id = events.event_id
