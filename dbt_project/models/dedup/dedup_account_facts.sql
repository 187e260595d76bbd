{#- dedup_account_facts: what the dedup ranking policy (dedup/ranking_policy.yml) knows of each Archtics
    account's ticketing, one row per account and season it holds active tickets in: season_rank 1 is
    the current season (the latest season_year), 2 the prior one, and so on; plan_rows counts active
    plan-level rows (a season or partial-season plan: the account is a plan holder that season),
    ticket_rows every active ticket row. The policy ranks a contact's Archtics accounts by these
    (current-season holder, prior-season holder, purchases in the recent seasons) before recency. -#}

with seasons as (

    select
        season_id,
        dense_rank() over (order by season_year desc, season_id desc) as season_rank
    from {{ ref('dim_season') }}

),

tickets as (

    select
        acct_id,
        season_id,
        is_plan_level_row
    from {{ ref('fct_ticket_purchases') }}
    where is_active = 1 and acct_id is not null

)

select
    tickets.acct_id,
    seasons.season_rank,
    sum(tickets.is_plan_level_row) as plan_rows,
    count(*) as ticket_rows
from tickets
inner join seasons
    on tickets.season_id = seasons.season_id
group by tickets.acct_id, seasons.season_rank
