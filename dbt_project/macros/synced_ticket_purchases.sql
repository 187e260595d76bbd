{#- The accounts whose SyncedTicketPurchases rows a run must rebuild (a query with no CTEs, so that
    SQL Server accepts it inside `in (...)`): accounts with ticket rows fct_ticket_purchases
    re-decided, or a dim_account row rebuilt, since the newest load the table was built from;
    accounts with tickets at an event whose details changed; and accounts whose contact assignment
    changed (int_accounts_assigned) since the table's last build. Every part reads a watermark column,
    so the scope costs column scans, and the rebuild costs the change. -#}
{% macro kore_synced_ticket_purchases_scope() -%}
{%- set load_watermark = "(select coalesce(max(_source_load_id), '') from " ~ this ~ ")" -%}
{%- set built_watermark = "(select coalesce(max(_built_at), '') from " ~ this ~ ")" -%}
select scope_fct.acct_id
from {{ ref('fct_ticket_purchases') }} as scope_fct
where scope_fct.batch_load_id > {{ load_watermark }}
union
select scope_account.acct_id
from {{ ref('dim_account') }} as scope_account
where scope_account.source_load_id > {{ load_watermark }}
union
select scope_event_fct.acct_id
from {{ ref('fct_ticket_purchases') }} as scope_event_fct
where scope_event_fct.event_id in (
    select scope_event.event_id
    from {{ ref('stg_archtics__events') }} as scope_event
    where scope_event.load_id > {{ load_watermark }}
)
union
select scope_assigned.acct_id
from {{ ref('int_accounts_assigned') }} as scope_assigned
where scope_assigned.changed_at > {{ built_watermark }}
{%- endmacro %}
