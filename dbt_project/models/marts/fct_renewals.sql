{{ config(tags=['needs_dedup']) }}
{#- fct_renewals: season-over-season retention of season-ticket holders, by plan type, price code and
    section -- the measure a renewal campaign is judged by. One row per season x plan type x price
    code x section. Last season's holders (the cohort) are counted under last season's main price
    code and section (the one holding most of their seats); new holders under this season's.

    retained holders: the cohort's holders who hold the plan type again (renewed, upgraded or
    downgraded); holder_retention_rate = retained_holders / cohort_holders; seat_retention_rate and
    revenue_retention_rate divide the retained holders' seats and gross revenue this season by the
    cohort's seats and gross revenue last season (above 1 when renewals bought more). Built from
    fct_season_ticket_holders, a few rows per holder. -#}

with holders as (

    select * from {{ ref('fct_season_ticket_holders') }}

),

cohort_and_new as (

    select
        season_id,
        plan_type,
        coalesce(case when holder_status = 'new' then main_price_code else previous_main_price_code end, '')
            as price_code,
        coalesce(case when holder_status = 'new' then main_section_name else previous_main_section_name end, '')
            as section_name,
        case when holder_status = 'new' then 0 else 1 end as in_cohort,
        case when holder_status in ('renewed', 'upgraded', 'downgraded') then 1 else 0 end as is_retained,
        holder_status,
        seats,
        gross_revenue,
        coalesce(previous_seats, 0) as previous_seats,
        coalesce(previous_gross_revenue, 0) as previous_gross_revenue
    from holders

),

grouped as (

    select
        season_id,
        plan_type,
        price_code,
        section_name,
        sum(in_cohort) as cohort_holders,
        sum(is_retained) as retained_holders,
        sum(case when holder_status = 'renewed' then 1 else 0 end) as renewed_holders,
        sum(case when holder_status = 'upgraded' then 1 else 0 end) as upgraded_holders,
        sum(case when holder_status = 'downgraded' then 1 else 0 end) as downgraded_holders,
        sum(case when holder_status = 'lapsed' then 1 else 0 end) as lapsed_holders,
        sum(case when holder_status = 'new' then 1 else 0 end) as new_holders,
        sum(previous_seats) as cohort_seats,
        sum(case when is_retained = 1 then seats else 0 end) as retained_seats,
        sum(previous_gross_revenue) as cohort_revenue,
        sum(case when is_retained = 1 then gross_revenue else 0 end) as retained_revenue,
        sum(case when holder_status = 'new' then seats else 0 end) as new_seats,
        sum(case when holder_status = 'new' then gross_revenue else 0 end) as new_revenue
    from cohort_and_new
    group by season_id, plan_type, price_code, section_name

)

select
    {{ kore_row_hash(['season_id', 'plan_type', 'price_code', 'section_name']) }} as renewal_key,
    grouped.*,
    {{ kore_metric_rate('retained_holders', 'cohort_holders') }} as holder_retention_rate,
    {{ kore_metric_rate('retained_seats', 'cohort_seats') }} as seat_retention_rate,
    {{ kore_metric_rate('retained_revenue', 'cohort_revenue') }} as revenue_retention_rate
from grouped
