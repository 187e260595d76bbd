{{
    config(
        materialized='incremental',
        unique_key='person_key',
        incremental_strategy='delete+insert',
        on_schema_change='fail',
        tags=['needs_dedup'],
        post_hook="{{ kore_delete_tombstones('holder_key') }}"
    )
}}
{#- fct_season_ticket_holders: one row per person (dedup contact, int_account_persons) x season x plan
    type, over all the person's Archtics accounts: seats, price codes, sections, revenue, and how the
    holding compares with the person's holding of the same plan type the season before:

        new         no holding of this plan type last season
        renewed     held it last season, same seats and price level
        upgraded    more seats, or the same seats at a dearer price level
        downgraded  fewer seats, or the same seats at a cheaper price level
        lapsed      held it last season, holds none this season (is_holder = 0, no seats)

    The plan type (evnt.plan_type, else the plan's name) is what stays the same from one season to
    the next: Archtics creates each season's plans as new plan events. A seat block is counted once
    whether Archtics holds it as one plan-level row or expanded into one row per event. Price level:
    the price code's rank within its plan type, over all seasons, by average list price per seat
    (1 = the dearest): one scale for every season, so a general price rise is not an upgrade. Lapsed
    rows appear for the seasons that have holders.

    Incremental by person (macros/person_scope.sql): a person's rows depend only on the person's own
    plan tickets, except for three things shared by everyone -- the season order, the price levels and
    which seasons have holders. A run recomputes the persons whose accounts' tickets were re-decided,
    whose accounts changed person, or who hold a plan whose event details landed anew, since its
    watermarks (source_load_id, persons_changed_at); and everyone when one of the shared things
    differs from what the table holds. -#}
{%- set incremental = kore_is_incremental() %}
{%- set rebuild_all = 'exists (select 1 from shared_changes)' %}

with plans as (

    select
        event_id as plan_event_id,
        season_id,
        coalesce(plan_type, event_name) as plan_type
    from {{ ref('dim_event') }}
    where is_plan = 1

),

seasons as (

    select
        season_id,
        season_seq
    from {{ ref('dim_season') }}

),

persons as (

    select
        acct_id,
        person_key,
        contact_key,
        cluster_id
    from {{ ref('int_account_persons') }}

),

plan_tickets as (

    select
        plans.season_id,
        plans.plan_type,
        t.plan_event_id,
        t.acct_id,
        t.section_id,
        coalesce(t.section_name, {{ kore_to_string('t.section_id') }}) as section_name,
        t.row_id,
        t.seat_num,
        coalesce(t.price_code, '') as price_code,
        {{ kore_metric_seats('t') }} as seats,
        {{ kore_metric_gross_revenue('t') }} as gross_revenue,
        {{ kore_metric_paid_revenue('t') }} as paid_revenue,
        {{ kore_metric_is_comp('t') }} as is_comp,
        coalesce(t.full_price, 0) / {{ kore_metric_seats('t') }} as list_price_per_seat
    from {{ ref('fct_ticket_purchases') }} as t
    inner join plans
        on t.plan_event_id = plans.plan_event_id
    where t.is_active = 1

),

price_levels as (

    select
        plan_type,
        price_code,
        dense_rank() over (
            partition by plan_type order by avg(list_price_per_seat) desc
        ) as price_level
    from plan_tickets
    group by plan_type, price_code

),

watermarks as (

    select
        (
            select max(newest.load_id)
            from (
                select max(fct.batch_load_id) as load_id from {{ ref('fct_ticket_purchases') }} as fct
                union all
                select max(events.load_id) as load_id from {{ ref('stg_archtics__events') }} as events
            ) as newest
        ) as source_load_id,
        (select max(moved.changed_at) from {{ ref('int_account_persons') }} as moved) as persons_changed_at

),

{%- if incremental %}

built_holdings as (

    select distinct
        built.season_id,
        built.season_seq,
        built.plan_type,
        built.main_price_code,
        built.price_level
    from {{ this }} as built
    where built.is_holder = 1

),

shared_changes as (

    select built_holdings.season_id
    from built_holdings
    left join seasons
        on built_holdings.season_id = seasons.season_id
    where coalesce(seasons.season_seq, -1) != built_holdings.season_seq
    union all
    select built_holdings.season_id
    from built_holdings
    left join price_levels
        on
            built_holdings.plan_type = price_levels.plan_type
            and built_holdings.main_price_code = price_levels.price_code
    where coalesce(price_levels.price_level, -1) != built_holdings.price_level
    union all
    select plan_tickets.season_id
    from plan_tickets
    inner join seasons
        on plan_tickets.season_id = seasons.season_id
    where plan_tickets.season_id not in (select built_holdings.season_id from built_holdings)
    union all
    select built_holdings.season_id
    from built_holdings
    where built_holdings.season_id not in (select plan_tickets.season_id from plan_tickets)

),

{{ kore_person_scope(
    extra_accounts="select replanned.acct_id from " ~ ref('fct_ticket_purchases') ~ " as replanned where replanned.plan_event_id in (select events.event_id from " ~ ref('stg_archtics__events') ~ " as events where events.load_id > (select built_watermark.source_load_id from built_watermark))",
    rebuild_all=rebuild_all
) }},

{%- endif %}

plan_rows as (

    select
        coalesce(
            persons.person_key, {{ dbt.concat(["'ACCT-'", kore_to_string('plan_tickets.acct_id')]) }}
        ) as person_key,
        persons.contact_key,
        persons.cluster_id,
        plan_tickets.*
    from plan_tickets
    left join persons
        on plan_tickets.acct_id = persons.acct_id
    {%- if incremental %}
    where {{ kore_in_person_scope('plan_tickets.acct_id', rebuild_all) }}
    {%- endif %}

),

seat_blocks as (

    select
        person_key,
        season_id,
        plan_type,
        section_id,
        row_id,
        seat_num,
        max(contact_key) as contact_key,
        max(cluster_id) as cluster_id,
        max(plan_event_id) as plan_event_id,
        max(acct_id) as acct_id,
        max(section_name) as section_name,
        max(price_code) as price_code,
        max(seats) as seats,
        sum(gross_revenue) as gross_revenue,
        sum(paid_revenue) as paid_revenue,
        max(is_comp) as is_comp
    from plan_rows
    group by person_key, season_id, plan_type, section_id, row_id, seat_num

),

holder_codes as (

    select
        seat_blocks.person_key,
        seat_blocks.season_id,
        seat_blocks.plan_type,
        seat_blocks.price_code,
        min(price_levels.price_level) as price_level,
        row_number() over (
            partition by seat_blocks.person_key, seat_blocks.season_id, seat_blocks.plan_type
            order by sum(seat_blocks.seats) desc, seat_blocks.price_code asc
        ) as code_rank
    from seat_blocks
    left join price_levels
        on
            seat_blocks.plan_type = price_levels.plan_type
            and seat_blocks.price_code = price_levels.price_code
    group by seat_blocks.person_key, seat_blocks.season_id, seat_blocks.plan_type, seat_blocks.price_code

),

holder_sections as (

    select
        person_key,
        season_id,
        plan_type,
        section_name,
        row_number() over (
            partition by person_key, season_id, plan_type
            order by sum(seats) desc, section_name asc
        ) as section_rank
    from seat_blocks
    group by person_key, season_id, plan_type, section_name

),

holder_accounts as (

    select distinct
        person_key,
        season_id,
        plan_type,
        acct_id
    from seat_blocks

),

holdings as (

    select
        seat_blocks.person_key,
        seat_blocks.season_id,
        seat_blocks.plan_type,
        max(seasons.season_seq) as season_seq,
        max(seat_blocks.contact_key) as contact_key,
        max(seat_blocks.cluster_id) as cluster_id,
        max(seat_blocks.plan_event_id) as plan_event_id,
        count(*) as seat_blocks,
        sum(seat_blocks.seats) as seats,
        sum(seat_blocks.seats * seat_blocks.is_comp) as comp_seats,
        sum(seat_blocks.gross_revenue) as gross_revenue,
        sum(seat_blocks.paid_revenue) as paid_revenue
    from seat_blocks
    inner join seasons
        on seat_blocks.season_id = seasons.season_id
    group by seat_blocks.person_key, seat_blocks.season_id, seat_blocks.plan_type

),

code_lists as (

    select
        person_key,
        season_id,
        plan_type,
        {{ dbt.listagg('price_code', "', '", 'order by price_code') }} as price_codes
    from holder_codes
    group by person_key, season_id, plan_type

),

section_lists as (

    select
        person_key,
        season_id,
        plan_type,
        {{ dbt.listagg('section_name', "', '", 'order by section_name') }} as section_names
    from holder_sections
    group by person_key, season_id, plan_type

),

account_lists as (

    select
        person_key,
        season_id,
        plan_type,
        {{ dbt.listagg(kore_to_string('acct_id'), "', '", 'order by acct_id') }} as acct_ids
    from holder_accounts
    group by person_key, season_id, plan_type

),

described as (

    select
        holdings.*,
        main_code.price_code as main_price_code,
        main_code.price_level,
        main_section.section_name as main_section_name,
        code_lists.price_codes,
        section_lists.section_names,
        account_lists.acct_ids
    from holdings
    inner join code_lists
        on
            holdings.person_key = code_lists.person_key
            and holdings.season_id = code_lists.season_id
            and holdings.plan_type = code_lists.plan_type
    inner join section_lists
        on
            holdings.person_key = section_lists.person_key
            and holdings.season_id = section_lists.season_id
            and holdings.plan_type = section_lists.plan_type
    inner join account_lists
        on
            holdings.person_key = account_lists.person_key
            and holdings.season_id = account_lists.season_id
            and holdings.plan_type = account_lists.plan_type
    left join holder_codes as main_code
        on
            holdings.person_key = main_code.person_key
            and holdings.season_id = main_code.season_id
            and holdings.plan_type = main_code.plan_type
            and main_code.code_rank = 1
    left join holder_sections as main_section
        on
            holdings.person_key = main_section.person_key
            and holdings.season_id = main_section.season_id
            and holdings.plan_type = main_section.plan_type
            and main_section.section_rank = 1

),

holder_seasons as (

    select distinct
        season_id,
        season_seq
    from holdings

),

previous as (

    select
        described.*,
        holder_seasons.season_id as next_season_id,
        holder_seasons.season_seq as next_season_seq
    from described
    inner join holder_seasons
        on described.season_seq + 1 = holder_seasons.season_seq

),

compared as (

    select
        described.person_key,
        described.season_id,
        described.plan_type,
        described.season_seq,
        described.contact_key,
        described.cluster_id,
        described.plan_event_id,
        1 as is_holder,
        described.seat_blocks,
        described.seats,
        described.comp_seats,
        described.gross_revenue,
        described.paid_revenue,
        described.main_price_code,
        described.price_level,
        described.price_codes,
        described.main_section_name,
        described.section_names,
        described.acct_ids,
        previous.seats as previous_seats,
        previous.gross_revenue as previous_gross_revenue,
        previous.main_price_code as previous_main_price_code,
        previous.price_level as previous_price_level,
        previous.main_section_name as previous_main_section_name,
        case
            when previous.person_key is null then 'new'
            when described.seats > previous.seats then 'upgraded'
            when described.seats < previous.seats then 'downgraded'
            when described.price_level < previous.price_level then 'upgraded'
            when described.price_level > previous.price_level then 'downgraded'
            else 'renewed'
        end as holder_status
    from described
    left join previous
        on
            described.person_key = previous.person_key
            and described.plan_type = previous.plan_type
            and described.season_id = previous.next_season_id

    union all

    select
        previous.person_key,
        previous.next_season_id as season_id,
        previous.plan_type,
        previous.next_season_seq as season_seq,
        previous.contact_key,
        previous.cluster_id,
        {{ kore_typed_null('bigint') }} as plan_event_id,
        0 as is_holder,
        0 as seat_blocks,
        0 as seats,
        0 as comp_seats,
        cast(0 as decimal(18, 2)) as gross_revenue,
        cast(0 as decimal(18, 2)) as paid_revenue,
        {{ kore_typed_null('varchar') }} as main_price_code,
        {{ kore_typed_null('bigint') }} as price_level,
        {{ kore_typed_null('varchar') }} as price_codes,
        {{ kore_typed_null('varchar') }} as main_section_name,
        {{ kore_typed_null('varchar') }} as section_names,
        previous.acct_ids,
        previous.seats as previous_seats,
        previous.gross_revenue as previous_gross_revenue,
        previous.main_price_code as previous_main_price_code,
        previous.price_level as previous_price_level,
        previous.main_section_name as previous_main_section_name,
        'lapsed' as holder_status
    from previous
    where not exists (
        select 1
        from holdings
        where
            holdings.person_key = previous.person_key
            and holdings.plan_type = previous.plan_type
            and holdings.season_id = previous.next_season_id
    )

),

holders_and_tombstones as (

    select
        {{ kore_row_hash(['person_key', 'season_id', 'plan_type']) }} as holder_key,
        compared.*
    from compared
    {%- if incremental %}

    union all

    select
        {{ kore_typed_null('varchar') }} as holder_key,
        scope_persons.person_key,
        {{ kore_typed_nulls([
            'season_id:bigint', 'plan_type:varchar', 'season_seq:bigint', 'contact_key:varchar',
            'cluster_id:varchar', 'plan_event_id:bigint', 'is_holder:int', 'seat_blocks:bigint',
            'seats:bigint', 'comp_seats:bigint', 'gross_revenue:decimal', 'paid_revenue:decimal',
            'main_price_code:varchar', 'price_level:bigint', 'price_codes:varchar',
            'main_section_name:varchar', 'section_names:varchar', 'acct_ids:varchar',
            'previous_seats:bigint', 'previous_gross_revenue:decimal',
            'previous_main_price_code:varchar', 'previous_price_level:bigint',
            'previous_main_section_name:varchar', 'holder_status:varchar'
        ]) }}
    from scope_persons
    where scope_persons.person_key not in (select compared.person_key from compared)
    {%- endif %}

)

select
    holders_and_tombstones.*,
    watermarks.source_load_id,
    watermarks.persons_changed_at
from holders_and_tombstones
cross join watermarks
