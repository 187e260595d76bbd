{{ config(tags=['needs_dedup']) }}
{#- fct_rep_book: each sales rep's book per season -- the contacts the rep owns (the rep of a contact's
    primary Archtics account, mart_customer_360.owning_rep_id; people dedup has not mapped count under
    their own account's rep), their Archtics accounts, and in that season: the contacts who bought,
    the season-ticket holders (renewed, new, lapsed), seats and revenue (macros/metrics.sql). One row per
    rep x season; acct_rep_id -1 collects the contacts no rep owns. -#}

with persons as (

    select * from {{ ref('int_account_persons') }}

),

primaries as (

    select
        person_key,
        acct_rep_id,
        rep_full_name,
        row_number() over (
            partition by person_key order by is_primary_account desc, acct_id asc
        ) as owner_rank
    from persons

),

owners as (

    select
        person_key,
        coalesce(acct_rep_id, -1) as acct_rep_id,
        coalesce(rep_full_name, 'No rep') as rep_full_name
    from primaries
    where owner_rank = 1

),

book as (

    select
        owners.acct_rep_id,
        max(owners.rep_full_name) as rep_full_name,
        count(distinct owners.person_key) as contacts,
        count(*) as accounts
    from persons
    inner join owners
        on persons.person_key = owners.person_key
    group by owners.acct_rep_id

),

spend as (

    select
        owners.acct_rep_id,
        spend.season_id,
        max(spend.season_seq) as season_seq,
        count(distinct spend.person_key) as buying_contacts,
        sum(spend.seats) as seats,
        sum(spend.gross_revenue) as gross_revenue,
        sum(spend.paid_revenue) as paid_revenue
    from {{ ref('int_person_season_spend') }} as spend
    inner join owners
        on spend.person_key = owners.person_key
    group by owners.acct_rep_id, spend.season_id

),

holders as (

    select
        owners.acct_rep_id,
        holders.season_id,
        count(distinct case when holders.is_holder = 1 then holders.person_key end) as holders,
        count(
            distinct case
                when holders.holder_status in ('renewed', 'upgraded', 'downgraded') then holders.person_key
            end
        ) as renewed_holders,
        count(distinct case when holders.holder_status = 'new' then holders.person_key end) as new_holders,
        sum(case when holders.holder_status = 'lapsed' then 1 else 0 end) as lapsed_holdings,
        sum(holders.seats) as plan_seats,
        sum(holders.gross_revenue) as plan_gross_revenue
    from {{ ref('fct_season_ticket_holders') }} as holders
    inner join owners
        on holders.person_key = owners.person_key
    group by owners.acct_rep_id, holders.season_id

)

select
    {{ kore_row_hash(['spend.acct_rep_id', 'spend.season_id']) }} as rep_book_key,
    spend.acct_rep_id,
    book.rep_full_name,
    spend.season_id,
    spend.season_seq,
    book.contacts,
    book.accounts,
    spend.buying_contacts,
    spend.seats,
    spend.gross_revenue,
    spend.paid_revenue,
    coalesce(holders.holders, 0) as holders,
    coalesce(holders.renewed_holders, 0) as renewed_holders,
    coalesce(holders.new_holders, 0) as new_holders,
    coalesce(holders.lapsed_holdings, 0) as lapsed_holdings,
    coalesce(holders.plan_seats, 0) as plan_seats,
    coalesce(holders.plan_gross_revenue, 0) as plan_gross_revenue
from spend
inner join book
    on spend.acct_rep_id = book.acct_rep_id
left join holders
    on
        spend.acct_rep_id = holders.acct_rep_id
        and spend.season_id = holders.season_id
