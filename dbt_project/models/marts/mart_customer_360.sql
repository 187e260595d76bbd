{{ config(tags=['needs_dedup']) }}
{#- mart_customer_360: one row per CRM contact (dedup cluster, dim_contact): all its Archtics accounts,
    lifetime and per-season spend (this season = the newest season with sales; the previous one),
    seasons bought in and seasons held as a season-ticket holder, first and last purchase, events
    attended and plans held, the owning rep (the rep of the contact's primary Archtics account), open
    KORE-app deals and touchpoints, the dedup cluster and primary account. Spend and seats follow
    macros/metrics.sql. Rebuilt in full (a table, one row per contact): its inputs are per-person
    summaries (int_person_season_spend, fct_season_ticket_holders), not the ticket rows. The KORE apps
    are optional: when their tables were not built (a client without them, a build that leaves them
    out), the contact has no deals and no touchpoints. -#}
{%- set deals_relation = ref('kore_premiumdealbase') %}
{%- set touchpoints_relation = ref('kore_touchpointbase') %}

with contacts as (

    select * from {{ ref('dim_contact') }}

),

persons as (

    select * from {{ ref('int_account_persons') }}

),

spend as (

    select * from {{ ref('int_person_season_spend') }}

),

latest_season as (

    select max(season_seq) as season_seq
    from spend

),

accounts as (

    select
        contact_key,
        count(*) as account_count,
        {{ dbt.listagg(kore_to_string('acct_id'), "', '", 'order by acct_id') }} as acct_ids
    from persons
    where contact_key is not null
    group by contact_key

),

lifetime as (

    select
        spend.person_key,
        sum(spend.seats) as lifetime_seats,
        sum(spend.gross_revenue) as lifetime_gross_revenue,
        sum(spend.paid_revenue) as lifetime_paid_revenue,
        sum(case when spend.season_seq = latest_season.season_seq then spend.gross_revenue else 0 end)
            as current_season_gross_revenue,
        sum(case when spend.season_seq = latest_season.season_seq - 1 then spend.gross_revenue else 0 end)
            as previous_season_gross_revenue,
        count(distinct spend.season_id) as seasons_purchased,
        sum(spend.events_attended) as events_attended,
        sum(spend.plans_held) as plans_held,
        min(spend.first_purchase_at) as first_purchase_at,
        max(spend.last_purchase_at) as last_purchase_at
    from spend
    cross join latest_season
    group by spend.person_key

),

held as (

    select
        person_key,
        count(distinct season_id) as seasons_held,
        max(season_seq) as last_held_season_seq
    from {{ ref('fct_season_ticket_holders') }}
    where is_holder = 1
    group by person_key

),

owners as (

    select
        acct_id,
        acct_rep_id,
        rep_full_name
    from persons

),

deals as (

    {%- if kore_relation_exists(deals_relation) %}
    select
        contact_key,
        count(*) as open_deals,
        sum(annual_value) as open_deal_annual_value
    from {{ deals_relation }}
    where
        contact_key is not null
        and coalesce(status, '') not in ('Signed', 'Lost', 'Closed', 'Cancelled')
    group by contact_key
    {%- else %}
    select
        {{ kore_typed_null('varchar') }} as contact_key,
        0 as open_deals,
        cast(0 as decimal(18, 2)) as open_deal_annual_value
    where 1 = 0
    {%- endif %}

),

touchpoints as (

    {%- if kore_relation_exists(touchpoints_relation) %}
    select
        contact_key,
        count(*) as touchpoints,
        max(occurred_at) as last_touchpoint_at
    from {{ touchpoints_relation }}
    where contact_key is not null
    group by contact_key
    {%- else %}
    select
        {{ kore_typed_null('varchar') }} as contact_key,
        0 as touchpoints,
        {{ kore_typed_null('timestamp') }} as last_touchpoint_at
    where 1 = 0
    {%- endif %}

)

select
    contacts.contact_key,
    contacts.crm_contact_id,
    contacts.cluster_id,
    contacts.primary_acct_id,
    contacts.exists_in_crm,
    coalesce(accounts.account_count, 0) as account_count,
    accounts.acct_ids,
    coalesce(lifetime.lifetime_seats, 0) as lifetime_seats,
    coalesce(lifetime.lifetime_gross_revenue, 0) as lifetime_gross_revenue,
    coalesce(lifetime.lifetime_paid_revenue, 0) as lifetime_paid_revenue,
    coalesce(lifetime.current_season_gross_revenue, 0) as current_season_gross_revenue,
    coalesce(lifetime.previous_season_gross_revenue, 0) as previous_season_gross_revenue,
    coalesce(lifetime.seasons_purchased, 0) as seasons_purchased,
    coalesce(held.seasons_held, 0) as seasons_held,
    case when held.last_held_season_seq = latest_season.season_seq then 1 else 0 end as is_current_holder,
    lifetime.first_purchase_at,
    lifetime.last_purchase_at,
    coalesce(lifetime.events_attended, 0) as events_attended,
    coalesce(lifetime.plans_held, 0) as plans_held,
    owners.acct_rep_id as owning_rep_id,
    owners.rep_full_name as owning_rep_name,
    coalesce(deals.open_deals, 0) as open_deals,
    coalesce(deals.open_deal_annual_value, 0) as open_deal_annual_value,
    coalesce(touchpoints.touchpoints, 0) as touchpoints,
    touchpoints.last_touchpoint_at
from contacts
cross join latest_season
left join accounts
    on contacts.contact_key = accounts.contact_key
left join lifetime
    on contacts.contact_key = lifetime.person_key
left join held
    on contacts.contact_key = held.person_key
left join owners
    on contacts.primary_acct_id = owners.acct_id
left join deals
    on contacts.contact_key = deals.contact_key
left join touchpoints
    on contacts.contact_key = touchpoints.contact_key
