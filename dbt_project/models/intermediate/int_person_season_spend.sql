{{
    config(
        materialized='incremental',
        unique_key='person_key',
        incremental_strategy='delete+insert',
        on_schema_change='fail',
        tags=['needs_dedup'],
        post_hook="{{ kore_delete_tombstones('season_id') }}"
    )
}}
{#- int_person_season_spend: what each person (dedup contact, int_account_persons) bought per season,
    over all their Archtics accounts: seats, gross and paid revenue (macros/metrics.sql), events,
    plans, first and last purchase. One scan of the active tickets, shared by mart_customer_360 and
    fct_rep_book. Each season's sequence number (season_seq, 1 = oldest) lets readers find the
    previous season; tickets of an event Archtics has no season for count under season_id -1.

    Incremental by person (macros/person_scope.sql): a run recomputes the persons whose accounts'
    tickets were re-decided or whose accounts changed person since its watermarks (source_load_id,
    persons_changed_at), and everyone when the season order changed. -#}
{%- set incremental = kore_is_incremental() %}
{%- set rebuild_all = 'exists (select 1 from reordered_seasons)' %}

with seasons as (

    select
        season_id,
        season_seq
    from {{ ref('dim_season') }}

),

watermarks as (

    select
        (select max(fct.batch_load_id) from {{ ref('fct_ticket_purchases') }} as fct) as source_load_id,
        (select max(moved.changed_at) from {{ ref('int_account_persons') }} as moved) as persons_changed_at

),

{%- if incremental %}

reordered_seasons as (

    select built.season_id
    from {{ this }} as built
    left join seasons
        on built.season_id = seasons.season_id
    where coalesce(built.season_seq, -1) != coalesce(seasons.season_seq, -1)

),

{{ kore_person_scope(rebuild_all=rebuild_all) }},

{%- endif %}

tickets as (

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
    where
        t.is_active = 1
        {%- if incremental %}
        and {{ kore_in_person_scope('t.acct_id', rebuild_all) }}
        {%- endif %}

),

persons as (

    select
        acct_id,
        person_key
    from {{ ref('int_account_persons') }}

),

spend as (

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

),

spend_and_tombstones as (

    select * from spend
    {%- if incremental %}

    union all

    select
        scope_persons.person_key,
        {{ kore_typed_null('bigint') }} as season_id,
        {{ kore_typed_null('bigint') }} as season_seq,
        {{ kore_typed_null('bigint') }} as seats,
        {{ kore_typed_null('decimal') }} as gross_revenue,
        {{ kore_typed_null('decimal') }} as paid_revenue,
        {{ kore_typed_null('bigint') }} as events_attended,
        {{ kore_typed_null('bigint') }} as plans_held,
        {{ kore_typed_null('timestamp') }} as first_purchase_at,
        {{ kore_typed_null('timestamp') }} as last_purchase_at
    from scope_persons
    where scope_persons.person_key not in (select spend.person_key from spend)
    {%- endif %}

)

select
    spend_and_tombstones.*,
    watermarks.source_load_id,
    watermarks.persons_changed_at
from spend_and_tombstones
cross join watermarks
