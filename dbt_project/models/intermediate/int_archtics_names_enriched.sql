{#- int_archtics_names_enriched: one row per Archtics name with its best email and address.
    Email: the name's primary email (then lowest email_sort), falling back to cust.email_addr.
    Address: the name's own cust address, falling back to its primary cust_address row.
    Phone: cell, then day, then evening. last_activity_at: the account's newest ticket change. -#}

with names as (

    select * from {{ ref('stg_archtics__custs') }}

),

emails_ranked as (

    select
        acct_id,
        cust_name_id,
        email_addr,
        row_number() over (
            partition by acct_id, cust_name_id
            order by is_primary_email desc, email_sort asc, email_id asc
        ) as email_rank
    from {{ ref('stg_archtics__cust_emails') }}
    where email_addr is not null

),

best_email as (

    select
        acct_id,
        cust_name_id,
        email_addr
    from emails_ranked
    where email_rank = 1

),

addresses_ranked as (

    select
        acct_id,
        cust_name_id,
        street_addr_1,
        city,
        state,
        zip,
        country,
        row_number() over (
            partition by acct_id, cust_name_id
            order by is_primary_address desc, cust_address_id asc
        ) as address_rank
    from {{ ref('stg_archtics__cust_addresses') }}
    where street_addr_1 is not null

),

best_address as (

    select
        acct_id,
        cust_name_id,
        street_addr_1,
        city,
        state,
        zip,
        country
    from addresses_ranked
    where address_rank = 1

),

ticket_activity as (

    select
        acct_id,
        max(upd_datetime) as last_ticket_at
    from {{ ref('stg_archtics__tickets') }}
    group by acct_id

)

select
    names.acct_id,
    names.cust_name_id,
    names.is_primary_name,
    names.is_company,
    names.name_type,
    names.acct_type_desc,
    names.rec_status,
    names.name_first as first_name,
    names.name_last as last_name,
    names.company_name,
    coalesce(best_email.email_addr, names.email_addr) as email,
    coalesce(names.phone_cell, names.phone_day, names.phone_eve) as phone,
    coalesce(names.street_addr_1, best_address.street_addr_1) as street,
    case when names.street_addr_1 is null then best_address.city else names.city end as city,
    case when names.street_addr_1 is null then best_address.state else names.state end as state,
    case when names.street_addr_1 is null then best_address.zip else names.zip end as zip,
    case when names.street_addr_1 is null then best_address.country else names.country end as country,
    names.birth_date,
    case
        when ticket_activity.last_ticket_at > names.upd_date then ticket_activity.last_ticket_at
        else names.upd_date
    end as last_activity_at,
    names.upd_date as updated_at
from names
left join best_email
    on
        names.acct_id = best_email.acct_id
        and names.cust_name_id = best_email.cust_name_id
left join best_address
    on
        names.acct_id = best_address.acct_id
        and names.cust_name_id = best_address.cust_name_id
left join ticket_activity
    on names.acct_id = ticket_activity.acct_id
