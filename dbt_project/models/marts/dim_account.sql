{{
    config(
        materialized='incremental',
        unique_key='acct_id',
        incremental_strategy='delete+insert',
        on_schema_change='fail'
    )
}}
{#- dim_account: one row per Archtics account, described by its primary name (or its lowest name id
    when none is marked primary), with its rep, name count, active seats and merge state.

    Incremental by account: every row records source_load_id, the newest landing load any input held
    when the row was built; a later run rebuilds only the accounts with input rows newer than that
    (a changed name, rep or merge note, or tickets fct_ticket_purchases re-decided), so its cost
    follows the change. -#}
{%- set incremental = kore_is_incremental() %}

with cust_names as (

    select * from {{ ref('stg_archtics__custs') }}

),

reps as (

    select * from {{ ref('stg_archtics__cust_reps') }}

),

tickets as (

    select
        acct_id,
        num_seats,
        is_active,
        add_datetime,
        upd_datetime,
        batch_load_id
    from {{ ref('fct_ticket_purchases') }}

),

merge_events as (

    select * from {{ ref('int_archtics_account_merges') }}

),

source_watermark as (

    select max(newest.load_id) as source_load_id
    from (
        select max(load_id) as load_id from cust_names
        union all
        select max(load_id) as load_id from reps
        union all
        select max(batch_load_id) as load_id from tickets
        union all
        select max(load_id) as load_id from merge_events
    ) as newest

),

{%- if incremental %}

built_watermark as (

    select coalesce(max(source_load_id), '') as source_load_id
    from {{ this }}

),

in_scope as (

    select cust_names.acct_id
    from cust_names
    where cust_names.load_id > (select source_load_id from built_watermark)
    union
    select reps.acct_id
    from reps
    where reps.load_id > (select source_load_id from built_watermark)
    union
    select tickets.acct_id
    from tickets
    where tickets.batch_load_id > (select source_load_id from built_watermark)
    union
    select merge_events.old_acct_id as acct_id
    from merge_events
    where merge_events.load_id > (select source_load_id from built_watermark)

),

{%- endif %}

names_ranked as (

    select
        cust_names.*,
        count(*) over (partition by cust_names.acct_id) as name_count,
        row_number() over (
            partition by cust_names.acct_id
            order by cust_names.is_primary_name desc, cust_names.cust_name_id asc
        ) as name_rank
    from cust_names
    {%- if incremental %}
    where cust_names.acct_id in (select in_scope.acct_id from in_scope)
    {%- endif %}

),

reps_ranked as (

    select
        reps.acct_id,
        reps.acct_rep_id,
        reps.rep_full_name,
        row_number() over (
            partition by reps.acct_id order by reps.acct_rep_type asc, reps.acct_rep_id asc
        ) as rep_rank
    from reps
    {%- if incremental %}
    where reps.acct_id in (select in_scope.acct_id from in_scope)
    {%- endif %}

),

seats as (

    select
        tickets.acct_id,
        count(*) as active_ticket_rows,
        sum(coalesce(tickets.num_seats, 1)) as active_seats,
        min(tickets.add_datetime) as first_purchase_at,
        max(tickets.upd_datetime) as last_ticket_change_at
    from tickets
    where
        tickets.is_active = 1
        {%- if incremental %}
        and tickets.acct_id in (select in_scope.acct_id from in_scope)
        {%- endif %}
    group by tickets.acct_id

),

account_merges as (

    select
        merge_events.old_acct_id,
        max(merge_events.new_acct_id) as merged_into_acct_id
    from merge_events
    {%- if incremental %}
    where merge_events.old_acct_id in (select in_scope.acct_id from in_scope)
    {%- endif %}
    group by merge_events.old_acct_id

)

select
    names_ranked.acct_id,
    names_ranked.cust_name_id as primary_cust_name_id,
    names_ranked.acct_type_desc,
    {{ kore_is_excluded_account_type('names_ranked.acct_type_desc') }} as is_excluded_account_type,
    names_ranked.rec_status,
    names_ranked.name_type,
    names_ranked.is_company,
    names_ranked.name_first as first_name,
    names_ranked.name_last as last_name,
    names_ranked.company_name,
    names_ranked.city,
    names_ranked.state,
    names_ranked.zip,
    names_ranked.country,
    names_ranked.since_date,
    names_ranked.name_count,
    reps_ranked.acct_rep_id,
    reps_ranked.rep_full_name,
    coalesce(seats.active_ticket_rows, 0) as active_ticket_rows,
    coalesce(seats.active_seats, 0) as active_seats,
    seats.first_purchase_at,
    seats.last_ticket_change_at,
    account_merges.merged_into_acct_id,
    names_ranked.upd_date as updated_at,
    source_watermark.source_load_id
from names_ranked
cross join source_watermark
left join reps_ranked
    on
        names_ranked.acct_id = reps_ranked.acct_id
        and reps_ranked.rep_rank = 1
left join seats
    on names_ranked.acct_id = seats.acct_id
left join account_merges
    on names_ranked.acct_id = account_merges.old_acct_id
where names_ranked.name_rank = 1
