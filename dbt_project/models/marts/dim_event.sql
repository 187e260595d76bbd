{#- dim_event: one row per Archtics event or plan (is_plan), with its season and, for plans, the
    number of events the plan contains. -#}

with events as (

    select * from {{ ref('stg_archtics__events') }}

),

plan_sizes as (

    select
        plan_event_id,
        count(distinct event_id) as events_in_plan
    from {{ ref('stg_archtics__events_in_plans') }}
    group by plan_event_id

),

seasons as (

    select * from {{ ref('stg_archtics__seasons') }}

)

select
    events.event_id,
    events.event_name,
    events.event_name_long,
    events.event_date,
    events.event_time,
    events.event_day,
    events.team,
    events.is_plan,
    events.plan_code,
    events.plan_type,
    events.season_id,
    coalesce(seasons.name, events.season_name) as season_name,
    seasons.season_year,
    events.arena_name,
    events.event_type,
    events.major_category,
    events.minor_category,
    case when events.is_plan = 1 then coalesce(plan_sizes.events_in_plan, 0) end as events_in_plan,
    events.upd_date as updated_at
from events
left join seasons
    on events.season_id = seasons.season_id
left join plan_sizes
    on events.event_id = plan_sizes.plan_event_id
