{{
    config(
        materialized='incremental',
        unique_key='event_id',
        incremental_strategy='delete+insert',
        on_schema_change='fail'
    )
}}
{#- fct_event_sales: what each event (and each plan, as Archtics sells it as an event) sold, per
    section and price code: seats sold, returned and comped, gross and paid revenue (macros/metrics.sql),
    and the plan seats already in the building.

    seats_sold / gross_revenue / paid_revenue: active ticket rows of the event (fct_ticket_purchases,
    is_active = 1), so per event they equal the active tickets -- a plan's own rows count under the
    plan's event_id; seats_returned: returned ('R') rows; seats_comped: active comp rows (part of
    seats_sold). plan_seats: seats of active, not expanded plan-level rows of the plans that contain a
    single event (events_in_plan), in this section and price code: those holders attend without a row
    of their own for the event. seats_held = seats_sold + plan_seats. sell_through_vs_plan =
    seats_held / plan_seats: the event's seats against the seats its plans alone bring (1 = plan
    holders only; null where no plan seats sit).

    Incremental by event (delete+insert on event_id): a run recomputes the events with ticket rows that
    fct_ticket_purchases re-decided since the newest load this table was built from, and the events of
    plans whose plan-level rows were re-decided, and events whose details landed anew. source_load_id is that load (the tests' watermark). -#}
{%- set incremental = kore_is_incremental() %}

with tickets as (

    select * from {{ ref('fct_ticket_purchases') }}

),

events_in_plans as (

    select distinct
        plan_event_id,
        event_id
    from {{ ref('stg_archtics__events_in_plans') }}

),

source_watermark as (

    select max(newest.load_id) as source_load_id
    from (
        select max(batch_load_id) as load_id from tickets
        union all
        select max(load_id) as load_id from {{ ref('stg_archtics__events') }}
    ) as newest

),

{%- if incremental %}

changed as (

    select
        event_id,
        is_plan_level_row
    from tickets
    where tickets.batch_load_id > (select coalesce(max(built.source_load_id), '') from {{ this }} as built)

),

in_scope as (

    select changed.event_id
    from changed
    union
    select events_in_plans.event_id
    from events_in_plans
    where events_in_plans.plan_event_id in (
        select changed.event_id
        from changed
        where changed.is_plan_level_row = 1
    )
    union
    select changed_events.event_id
    from {{ ref('stg_archtics__events') }} as changed_events
    where changed_events.load_id > (select coalesce(max(built.source_load_id), '') from {{ this }} as built)

),

{%- endif %}

event_rows as (

    select
        tickets.event_id,
        tickets.section_id,
        coalesce(tickets.price_code, '') as price_code,
        max(tickets.section_name) as section_name,
        sum(case when tickets.is_active = 1 then {{ kore_metric_seats('tickets') }} else 0 end) as seats_sold,
        sum(case when tickets.ticket_status = 'R' then {{ kore_metric_seats('tickets') }} else 0 end)
            as seats_returned,
        sum(
            case
                when tickets.is_active = 1
                    then {{ kore_metric_seats('tickets') }} * {{ kore_metric_is_comp('tickets') }}
                else 0
            end
        ) as seats_comped,
        sum(case when tickets.is_active = 1 then {{ kore_metric_gross_revenue('tickets') }} else 0 end)
            as gross_revenue,
        sum(case when tickets.is_active = 1 then {{ kore_metric_paid_revenue('tickets') }} else 0 end) as paid_revenue,
        0 as plan_seats
    from tickets
    {%- if incremental %}
    where tickets.event_id in (select in_scope.event_id from in_scope)
    {%- endif %}
    group by tickets.event_id, tickets.section_id, coalesce(tickets.price_code, '')

),

plan_blocks as (

    select
        tickets.event_id as plan_event_id,
        tickets.section_id,
        coalesce(tickets.price_code, '') as price_code,
        max(tickets.section_name) as section_name,
        sum({{ kore_metric_seats('tickets') }}) as plan_seats
    from tickets
    where
        tickets.is_active = 1
        and tickets.is_plan_level_row = 1
        {%- if incremental %}
        and tickets.event_id in (
            select events_in_plans.plan_event_id
            from events_in_plans
            where events_in_plans.event_id in (select in_scope.event_id from in_scope)
        )
        {%- endif %}
    group by tickets.event_id, tickets.section_id, coalesce(tickets.price_code, '')

),

plan_rows as (

    select
        events_in_plans.event_id,
        plan_blocks.section_id,
        plan_blocks.price_code,
        max(plan_blocks.section_name) as section_name,
        0 as seats_sold,
        0 as seats_returned,
        0 as seats_comped,
        cast(0 as decimal(18, 2)) as gross_revenue,
        cast(0 as decimal(18, 2)) as paid_revenue,
        sum(plan_blocks.plan_seats) as plan_seats
    from plan_blocks
    inner join events_in_plans
        on plan_blocks.plan_event_id = events_in_plans.plan_event_id
    {%- if incremental %}
    where events_in_plans.event_id in (select in_scope.event_id from in_scope)
    {%- endif %}
    group by events_in_plans.event_id, plan_blocks.section_id, plan_blocks.price_code

),

combined as (

    select
        event_id,
        section_id,
        price_code,
        max(section_name) as section_name,
        sum(seats_sold) as seats_sold,
        sum(seats_returned) as seats_returned,
        sum(seats_comped) as seats_comped,
        sum(gross_revenue) as gross_revenue,
        sum(paid_revenue) as paid_revenue,
        sum(plan_seats) as plan_seats
    from (
        select * from event_rows
        union all
        select * from plan_rows
    ) as unioned
    group by event_id, section_id, price_code

),

events as (

    select
        event_id,
        event_name,
        event_date,
        season_id,
        is_plan,
        plan_type
    from {{ ref('dim_event') }}

)

select
    {{ kore_row_hash(['combined.event_id', 'combined.section_id', 'combined.price_code']) }} as event_sales_key,
    combined.event_id,
    events.event_name,
    events.event_date,
    events.season_id,
    coalesce(events.is_plan, 0) as is_plan,
    events.plan_type,
    combined.section_id,
    combined.section_name,
    combined.price_code,
    combined.seats_sold,
    combined.seats_returned,
    combined.seats_comped,
    combined.gross_revenue,
    combined.paid_revenue,
    combined.plan_seats,
    combined.seats_sold + combined.plan_seats as seats_held,
    {{ kore_metric_rate('combined.seats_sold + combined.plan_seats', 'combined.plan_seats') }} as sell_through_vs_plan,
    source_watermark.source_load_id
from combined
cross join source_watermark
left join events
    on combined.event_id = events.event_id
