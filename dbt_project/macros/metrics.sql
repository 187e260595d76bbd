{#- The reporting metrics, defined once. MetricFlow (dbt's semantic layer) does not support SQL Server,
    so each metric is a macro over a ticket row of fct_ticket_purchases (alias `t`), and every mart that
    reports it sums the macro; the marts' YAML documents the column with the same words.

    seats            seats of a ticket row: num_seats (a seat block), 1 when Archtics left it empty
    gross_revenue    what the seats sold for: purchase_price (per seat, after discounts; 0 for a comp)
                     times the seats
    paid_revenue     what was paid: paid_amount (0 on a comp; a returned row is not active)
    is_comp          1 for a complimentary ticket (comp_code set)

    Only active rows (is_active = 1, the Archtics active-ticket rule) count towards seats and revenue;
    holders are distinct people (dedup contacts) with active plan seats; retention rates divide this
    season's renewing holders (seats, revenue) by last season's holders (seats, revenue). -#}
{% macro kore_metric_seats(t) -%}
    coalesce({{ t }}.num_seats, 1)
{%- endmacro %}

{% macro kore_metric_gross_revenue(t) -%}
    coalesce({{ t }}.purchase_price, 0) * coalesce({{ t }}.num_seats, 1)
{%- endmacro %}

{% macro kore_metric_paid_revenue(t) -%}
    coalesce({{ t }}.paid_amount, 0)
{%- endmacro %}

{% macro kore_metric_is_comp(t) -%}
    case when {{ t }}.comp_code is not null and {{ t }}.comp_code <> '' then 1 else 0 end
{%- endmacro %}

{#- A rate as a decimal: numerator / denominator, null when the denominator is 0. -#}
{% macro kore_metric_rate(numerator, denominator) -%}
    cast({{ numerator }} as decimal(18, 4)) / nullif(cast({{ denominator }} as decimal(18, 4)), 0)
{%- endmacro %}
