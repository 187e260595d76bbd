{#- Reconciliation: per season, the holders in fct_season_ticket_holders (is_holder = 1) are the
    distinct people -- dedup contacts, via int_account_persons -- with active plan tickets in
    fct_ticket_purchases (plan-level or expanded rows of a plan of that season), and so are their plan
    seats' revenue. Returns the seasons that disagree. -#}
with plans as (

    select
        event_id,
        season_id
    from {{ ref('dim_event') }}
    where is_plan = 1

),

ticket_holders as (

    select
        plans.season_id,
        count(distinct coalesce(persons.person_key, {{ dbt.concat(["'ACCT-'", kore_to_string('t.acct_id')]) }}))
            as holders,
        sum({{ kore_metric_gross_revenue('t') }}) as gross_revenue
    from {{ ref('fct_ticket_purchases') }} as t
    inner join plans
        on t.plan_event_id = plans.event_id
    left join {{ ref('int_account_persons') }} as persons
        on t.acct_id = persons.acct_id
    where t.is_active = 1
    group by plans.season_id

),

mart_holders as (

    select
        season_id,
        count(distinct person_key) as holders,
        sum(gross_revenue) as gross_revenue
    from {{ ref('fct_season_ticket_holders') }}
    where is_holder = 1
    group by season_id

)

select
    coalesce(ticket_holders.season_id, mart_holders.season_id) as season_id,
    ticket_holders.holders as ticket_holders,
    mart_holders.holders as mart_holders,
    ticket_holders.gross_revenue as ticket_gross_revenue,
    mart_holders.gross_revenue as mart_gross_revenue
from ticket_holders
full outer join mart_holders
    on ticket_holders.season_id = mart_holders.season_id
where
    ticket_holders.holders is null
    or mart_holders.holders is null
    or ticket_holders.holders <> mart_holders.holders
    or ticket_holders.gross_revenue <> mart_holders.gross_revenue
