{#- Reconciliation: per event, the seats and gross and paid revenue in fct_event_sales equal those of the
    active tickets in fct_ticket_purchases (macros/metrics.sql). Checks the events the latest run of
    fct_event_sales wrote (every event after a full build): the only ones a run can have got wrong.
    Returns the events that disagree. -#}
with written as (

    select distinct event_id
    from {{ ref('fct_event_sales') }}
    where source_load_id = (select max(latest.source_load_id) from {{ ref('fct_event_sales') }} as latest)

),

sides as (

    select
        sales.event_id,
        sales.seats_sold as seats,
        sales.gross_revenue,
        sales.paid_revenue
    from {{ ref('fct_event_sales') }} as sales
    where sales.event_id in (select written.event_id from written)

    union all

    select
        t.event_id,
        -{{ kore_metric_seats('t') }} as seats,
        -({{ kore_metric_gross_revenue('t') }}) as gross_revenue,
        -({{ kore_metric_paid_revenue('t') }}) as paid_revenue
    from {{ ref('fct_ticket_purchases') }} as t
    where
        t.is_active = 1
        and t.event_id in (select written.event_id from written)

)

select
    event_id,
    sum(seats) as seats_difference,
    sum(gross_revenue) as gross_revenue_difference,
    sum(paid_revenue) as paid_revenue_difference
from sides
group by event_id
having
    sum(seats) <> 0
    or sum(gross_revenue) <> 0
    or sum(paid_revenue) <> 0
