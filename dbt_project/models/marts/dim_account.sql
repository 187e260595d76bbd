{#- dim_account: one row per Archtics account, described by its primary name (or its lowest name id
    when none is marked primary), with its rep, name count, active seats and merge state. -#}

with names_ranked as (

    select
        cust_names.*,
        count(*) over (partition by cust_names.acct_id) as name_count,
        row_number() over (
            partition by cust_names.acct_id
            order by cust_names.is_primary_name desc, cust_names.cust_name_id asc
        ) as name_rank
    from {{ ref('stg_archtics__custs') }} as cust_names

),

reps_ranked as (

    select
        acct_id,
        acct_rep_id,
        rep_full_name,
        row_number() over (partition by acct_id order by acct_rep_type asc, acct_rep_id asc) as rep_rank
    from {{ ref('stg_archtics__cust_reps') }}

),

seats as (

    select
        acct_id,
        count(*) as active_ticket_rows,
        sum(coalesce(num_seats, 1)) as active_seats,
        min(add_datetime) as first_purchase_at,
        max(upd_datetime) as last_ticket_change_at
    from {{ ref('int_tickets_activated') }}
    group by acct_id

),

account_merges as (

    select
        old_acct_id,
        max(new_acct_id) as merged_into_acct_id
    from {{ ref('int_archtics_account_merges') }}
    group by old_acct_id

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
    names_ranked.upd_date as updated_at
from names_ranked
left join reps_ranked
    on
        names_ranked.acct_id = reps_ranked.acct_id
        and reps_ranked.rep_rank = 1
left join seats
    on names_ranked.acct_id = seats.acct_id
left join account_merges
    on names_ranked.acct_id = account_merges.old_acct_id
where names_ranked.name_rank = 1
