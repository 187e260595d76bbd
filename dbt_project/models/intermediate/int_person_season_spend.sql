{{ config(materialized='table', tags=['needs_dedup']) }}
{#- int_person_season_spend: what each person (dedup contact, int_account_persons) bought per season,
    over all their Archtics accounts: seats, gross and paid revenue (macros/metrics.sql), events,
    plans, first and last purchase. One scan of the active tickets, shared by mart_customer_360 and
    fct_rep_book. Each season's sequence number (season_seq, 1 = oldest) lets readers find the
    previous season; tickets of an event Archtics has no season for count under season_id -1. -#}

with tickets as (

    select
        t.acct_id,
        t.event_id,
        coalesce(t.season_id, -1) as season_id,
        t.is_plan_level_row,
        t.plan_event_id,
        t.add_datetime,
        {{ kore_metric_seats('t') }} as seats,
        {{ kore_metric_gross_revenue('t') }} as gross_revenue,
        {{ kore_metric_paid_revenue('t') }} as paid_revenue
    from {{ ref('fct_ticket_purchases') }} as t
    where t.is_active = 1

),

persons as (

    select
        acct_id,
        person_key
    from {{ ref('int_account_persons') }}

),

seasons as (

    select
        season_id,
        row_number() over (order by season_year, season_id) as season_seq
    from {{ ref('dim_season') }}

)

select
    coalesce(persons.person_key, {{ dbt.concat(["'ACCT-'", kore_to_string('tickets.acct_id')]) }}) as person_key,
    tickets.season_id,
    max(seasons.season_seq) as season_seq,
    sum(tickets.seats) as seats,
    sum(tickets.gross_revenue) as gross_revenue,
    sum(tickets.paid_revenue) as paid_revenue,
    count(distinct case when tickets.is_plan_level_row = 0 then tickets.event_id end) as events_attended,
    count(distinct tickets.plan_event_id) as plans_held,
    min(tickets.add_datetime) as first_purchase_at,
    max(tickets.add_datetime) as last_purchase_at
from tickets
left join persons
    on tickets.acct_id = persons.acct_id
left join seasons
    on tickets.season_id = seasons.season_id
group by
    coalesce(persons.person_key, {{ dbt.concat(["'ACCT-'", kore_to_string('tickets.acct_id')]) }}),
    tickets.season_id
