{#- dim_season: one row per Archtics season with its event and plan counts, and its place in the season
    order (season_seq, 1 = the oldest; by season_year, then season_id): the one definition of "the
    season before" that int_person_season_spend, fct_season_ticket_holders and the marts reading them
    share. -#}

with seasons as (

    select * from {{ ref('stg_archtics__seasons') }}

),

events as (

    select
        season_id,
        sum(case when is_plan = 0 then 1 else 0 end) as event_count,
        sum(case when is_plan = 1 then 1 else 0 end) as plan_count,
        min(case when is_plan = 0 then event_date end) as first_event_date,
        max(case when is_plan = 0 then event_date end) as last_event_date
    from {{ ref('stg_archtics__events') }}
    group by season_id

)

select
    seasons.season_id,
    seasons.name as season_name,
    seasons.season_year,
    seasons.arena_id,
    row_number() over (order by seasons.season_year, seasons.season_id) as season_seq,
    coalesce(events.event_count, 0) as event_count,
    coalesce(events.plan_count, 0) as plan_count,
    events.first_event_date,
    events.last_event_date,
    seasons.upd_datetime as updated_at
from seasons
left join events
    on seasons.season_id = events.season_id
