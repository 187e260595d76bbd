{#- The accounts whose SyncedTicketPurchases rows a run must rebuild (a query with no CTEs, so that
    SQL Server accepts it inside `in (...)`): accounts with ticket rows fct_ticket_purchases
    re-decided, or a dim_account row rebuilt (exclusion), since the newest load the table holds;
    accounts with tickets at an event whose details changed; and accounts whose primary contact or
    CRM account (dedup's mapping) differs from what the table holds, either way. -#}
{% macro kore_synced_ticket_purchases_scope() -%}
{%- set watermark = "(select coalesce(max(_source_load_id), '') from " ~ this ~ ")" -%}
select scope_fct.acct_id
from {{ ref('fct_ticket_purchases') }} as scope_fct
where scope_fct.batch_load_id > {{ watermark }}
union
select scope_account.acct_id
from {{ ref('dim_account') }} as scope_account
where scope_account.source_load_id > {{ watermark }}
union
select scope_event_fct.acct_id
from {{ ref('fct_ticket_purchases') }} as scope_event_fct
where scope_event_fct.event_id in (
    select scope_event.event_id
    from {{ ref('stg_archtics__events') }} as scope_event
    where scope_event.load_id > {{ watermark }}
)
union
select reassigned.acct_id
from (
    select
        assigned.acct_id,
        assigned.contact_key,
        assigned.account_key
    from ({{ kore_ticket_purchase_assignments() }}) as assigned
    where assigned.acct_id in (
        select holding.acct_id
        from {{ ref('fct_ticket_purchases') }} as holding
        where holding.is_active = 1
    )
    except
    select
        held.acct_id,
        held.contact_key,
        held.account_key
    from {{ this }} as held
) as reassigned
union
select unassigned.acct_id
from (
    select
        held.acct_id,
        held.contact_key,
        held.account_key
    from {{ this }} as held
    except
    select
        assigned.acct_id,
        assigned.contact_key,
        assigned.account_key
    from ({{ kore_ticket_purchase_assignments() }}) as assigned
) as unassigned
{%- endmacro %}

{#- Each pushable account's contact: the primary mapping row's contact (then the earliest seen), that
    contact's CRM account; accounts of an excluded Account Type have none. -#}
{% macro kore_ticket_purchase_assignments() -%}
select
    mapping_ranked.acct_id,
    mapping_ranked.contact_key,
    golden.account_key
from (
    select
        {{ kore_to_bigint('mapping.acct_id') }} as acct_id,
        cast(mapping.crm_contact_key as {{ dbt.type_string() }}) as contact_key,
        row_number() over (
            partition by {{ kore_to_bigint('mapping.acct_id') }}
            order by
                cast(mapping.is_primary as {{ dbt.type_int() }}) desc,
                cast(mapping.first_seen_at as {{ dbt.type_string() }}) asc,
                cast(mapping.crm_contact_key as {{ dbt.type_string() }}) asc
        ) as mapping_rank
    from {{ source('kore_dedup', 'account_contact_map') }} as mapping
    where mapping.crm_contact_key is not null
) as mapping_ranked
inner join {{ ref('dim_account') }} as assigned_account
    on mapping_ranked.acct_id = assigned_account.acct_id
left join (
    select
        cast(contact_key as {{ dbt.type_string() }}) as contact_key,
        cast(account_key as {{ dbt.type_string() }}) as account_key
    from {{ source('kore_dedup', 'golden_contacts') }}
) as golden
    on mapping_ranked.contact_key = golden.contact_key
where
    mapping_ranked.mapping_rank = 1
    and assigned_account.is_excluded_account_type = 0
{%- endmacro %}
