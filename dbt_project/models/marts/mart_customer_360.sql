{{
    config(
        materialized='incremental',
        unique_key='contact_key',
        incremental_strategy='delete+insert',
        on_schema_change='fail',
        tags=['needs_dedup'],
        post_hook="{{ kore_delete_tombstones('account_count') }}"
    )
}}
{#- mart_customer_360: one row per CRM contact (dedup cluster, dim_contact): all its Archtics accounts,
    lifetime and per-season spend (this season = the newest season with sales; the previous one),
    seasons bought in and seasons held as a season-ticket holder, first and last purchase, events
    attended and plans held, the owning rep (the rep of the contact's primary Archtics account), open
    KORE-app deals and touchpoints, the dedup cluster and primary account. Spend and seats follow
    macros/metrics.sql. Its inputs are per-person summaries (int_person_season_spend,
    fct_season_ticket_holders), not the ticket rows. The KORE apps are optional: when their tables were
    not built (a client without them, a build that leaves them out), the contact has no deals and no
    touchpoints.

    Incremental by contact (macros/person_scope.sql), so a routine build costs what changed: a run
    recomputes the contacts whose accounts' tickets were re-decided or whose accounts changed person,
    contact or rep since its watermarks (the same scope as int_person_season_spend), the contacts
    dim_contact now describes differently (new, another CRM id, cluster or primary account), and those
    whose open deals or touchpoints changed; everyone when the current or previous season is another
    one. A contact dim_contact no longer has gets a tombstone (account_count null) that deletes its
    row, removed by the post-hook. -#}
{%- set deals_relation = ref('kore_premiumdealbase') %}
{%- set touchpoints_relation = ref('kore_touchpointbase') %}
{%- set incremental = kore_is_incremental() %}
{%- set rebuild_all = 'exists (select 1 from other_seasons)' %}

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
    {#- the newest season with sales and the one before it: what the current_/previous_ columns mean #}

    select
        newest.season_seq,
        current_season.season_id as current_season_id,
        previous_season.season_id as previous_season_id
    from (select max(season_seq) as season_seq from spend) as newest
    left join {{ ref('dim_season') }} as current_season
        on newest.season_seq = current_season.season_seq
    left join {{ ref('dim_season') }} as previous_season
        on newest.season_seq - 1 = previous_season.season_seq

),

watermarks as (

    select
        (select max(fct.batch_load_id) from {{ ref('fct_ticket_purchases') }} as fct) as source_load_id,
        (select max(moved.changed_at) from {{ ref('int_account_persons') }} as moved) as persons_changed_at

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
        cast(0 as {{ dbt.type_bigint() }}) as open_deals,
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
        cast(0 as {{ dbt.type_bigint() }}) as touchpoints,
        {{ kore_typed_null('timestamp') }} as last_touchpoint_at
    where 1 = 0
    {%- endif %}

),

{%- if incremental %}

built_rows as (

    select
        contact_key,
        crm_contact_id,
        cluster_id,
        primary_acct_id,
        exists_in_crm,
        open_deals,
        open_deal_annual_value,
        touchpoints,
        last_touchpoint_at,
        current_season_id,
        previous_season_id
    from {{ this }}

),

other_seasons as (

    select built_rows.contact_key
    from built_rows
    cross join latest_season
    where
        coalesce(built_rows.current_season_id, -2) != coalesce(latest_season.current_season_id, -2)
        or coalesce(built_rows.previous_season_id, -2) != coalesce(latest_season.previous_season_id, -2)

),

{{ kore_person_scope() }},

redescribed_contacts as (

    select contacts.contact_key
    from contacts
    left join built_rows
        on contacts.contact_key = built_rows.contact_key
    where
        built_rows.contact_key is null
        or coalesce(contacts.crm_contact_id, '') != coalesce(built_rows.crm_contact_id, '')
        or coalesce(contacts.cluster_id, '') != coalesce(built_rows.cluster_id, '')
        or coalesce(contacts.primary_acct_id, -1) != coalesce(built_rows.primary_acct_id, -1)
        or contacts.exists_in_crm != built_rows.exists_in_crm

),

app_figures as (
    {#- deals and touchpoints are small tables: their per-contact figures are compared with the ones
        held (a last touchpoint that appears or goes comes with another touchpoint count) #}

    select
        coalesce(deals.contact_key, touchpoints.contact_key) as contact_key,
        coalesce(deals.open_deals, 0) as open_deals,
        coalesce(deals.open_deal_annual_value, 0) as open_deal_annual_value,
        coalesce(touchpoints.touchpoints, 0) as touchpoints,
        touchpoints.last_touchpoint_at
    from deals
    full outer join touchpoints
        on deals.contact_key = touchpoints.contact_key

),

held_figures as (

    select *
    from built_rows
    where built_rows.open_deals != 0 or built_rows.touchpoints != 0

),

app_changed_contacts as (

    select coalesce(app_figures.contact_key, held_figures.contact_key) as contact_key
    from app_figures
    full outer join held_figures
        on app_figures.contact_key = held_figures.contact_key
    where
        coalesce(app_figures.open_deals, 0) != coalesce(held_figures.open_deals, 0)
        or coalesce(app_figures.open_deal_annual_value, 0) != coalesce(held_figures.open_deal_annual_value, 0)
        or coalesce(app_figures.touchpoints, 0) != coalesce(held_figures.touchpoints, 0)
        or app_figures.last_touchpoint_at != held_figures.last_touchpoint_at

),

scope_contacts as (

    select scope_persons.person_key as contact_key
    from scope_persons
    union
    select redescribed_contacts.contact_key
    from redescribed_contacts
    union
    select app_changed_contacts.contact_key
    from app_changed_contacts

),

gone_contacts as (

    select built_rows.contact_key
    from built_rows
    where built_rows.contact_key not in (select contacts.contact_key from contacts)

),

{%- endif %}

written_contacts as (
    {#- the contacts this run writes: everyone on a full build, those in scope on an incremental one #}

    select contacts.*
    from contacts
    {%- if incremental %}
    where
        {{ rebuild_all }}
        or contacts.contact_key in (select scope_contacts.contact_key from scope_contacts)
    {%- endif %}

),

accounts as (

    select
        contact_key,
        count(*) as account_count,
        {{ dbt.listagg(kore_to_string('acct_id'), "', '", 'order by acct_id') }} as acct_ids
    from persons
    {%- if incremental %}
    where contact_key in (select written_contacts.contact_key from written_contacts)
    {%- endif %}
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
    {%- if incremental %}
    where spend.person_key in (select written_contacts.contact_key from written_contacts)
    {%- endif %}
    group by spend.person_key

),

held as (

    select
        person_key,
        count(distinct season_id) as seasons_held,
        max(season_seq) as last_held_season_seq
    from {{ ref('fct_season_ticket_holders') }}
    where
        is_holder = 1
        {%- if incremental %}
        and person_key in (select written_contacts.contact_key from written_contacts)
        {%- endif %}
    group by person_key

),

owners as (

    select
        acct_id,
        acct_rep_id,
        rep_full_name
    from persons

),

customers as (

    select
        written_contacts.contact_key,
        written_contacts.crm_contact_id,
        written_contacts.cluster_id,
        written_contacts.primary_acct_id,
        written_contacts.exists_in_crm,
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
        touchpoints.last_touchpoint_at,
        latest_season.current_season_id,
        latest_season.previous_season_id
    from written_contacts
    cross join latest_season
    left join accounts
        on written_contacts.contact_key = accounts.contact_key
    left join lifetime
        on written_contacts.contact_key = lifetime.person_key
    left join held
        on written_contacts.contact_key = held.person_key
    left join owners
        on written_contacts.primary_acct_id = owners.acct_id
    left join deals
        on written_contacts.contact_key = deals.contact_key
    left join touchpoints
        on written_contacts.contact_key = touchpoints.contact_key

),

customers_and_tombstones as (

    select * from customers
    {%- if incremental %}

    union all

    select
        gone_contacts.contact_key,
        {{ kore_typed_nulls([
            'crm_contact_id:varchar', 'cluster_id:varchar', 'primary_acct_id:bigint', 'exists_in_crm:int',
            'account_count:bigint', 'acct_ids:varchar', 'lifetime_seats:bigint',
            'lifetime_gross_revenue:decimal', 'lifetime_paid_revenue:decimal',
            'current_season_gross_revenue:decimal', 'previous_season_gross_revenue:decimal',
            'seasons_purchased:bigint', 'seasons_held:bigint', 'is_current_holder:int',
            'first_purchase_at:timestamp', 'last_purchase_at:timestamp', 'events_attended:bigint',
            'plans_held:bigint', 'owning_rep_id:bigint', 'owning_rep_name:varchar', 'open_deals:bigint',
            'open_deal_annual_value:decimal', 'touchpoints:bigint', 'last_touchpoint_at:timestamp',
            'current_season_id:bigint', 'previous_season_id:bigint'
        ]) }}
    from gone_contacts
    {%- endif %}

)

select
    customers_and_tombstones.*,
    watermarks.source_load_id,
    watermarks.persons_changed_at,
    {{ kore_run_stamp() }} as _built_at
from customers_and_tombstones
cross join watermarks
