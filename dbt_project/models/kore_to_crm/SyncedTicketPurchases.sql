{{
    config(
        tags=['needs_dedup'],
        materialized='incremental',
        unique_key='external_key',
        incremental_strategy='delete+insert',
        on_schema_change='fail',
        pre_hook="{% if kore_is_incremental() %}delete from {{ this }} where acct_id in ({{ kore_synced_ticket_purchases_scope() }}){% endif %}"
    )
}}
{#- SyncedTicketPurchases (KORE-owned, pushed as TicketPurchaseKoreps): the active Archtics tickets of
    accounts that dedup mapped to a CRM contact, each attached to the account's primary mapping's
    contact (contact_key = the contact's kore_external_key; when an account has several mapping rows
    the one marked is_primary wins, then the earliest seen) and that contact's CRM account
    (account_key). Accounts of an excluded Account Type are never pushed. external_key is the
    ticket's business-key hash: stable across runs, the upsert key in the CRM.

    Incremental by account (macros/synced_ticket_purchases.sql): the pre-hook deletes the rows of
    the accounts whose tickets, account or contact assignment changed, and the model inserts those
    accounts' active tickets again -- so a returned ticket or an account moved to another contact
    leaves no stale row. _source_load_id and _built_at (not pushed: the push skips columns starting
    with '_') are the newest input load the row was built from and the dbt run that built it. -#}
{%- set incremental = kore_is_incremental() %}

with

{%- if incremental %}

scope as (

    {{ kore_synced_ticket_purchases_scope() }}

),

{%- endif %}

active_tickets as (

    select *
    from {{ ref('fct_ticket_purchases') }}
    where
        is_active = 1
        {%- if incremental %}
        and acct_id in (select scope.acct_id from scope)
        {%- endif %}

),

assignments as (

    select
        acct_id,
        contact_key,
        account_key
    from {{ ref('int_accounts_assigned') }}
    where is_assigned = 1

),

events as (

    select
        event_id,
        event_date,
        load_id
    from {{ ref('stg_archtics__events') }}

),

source_watermark as (

    select max(newest.load_id) as source_load_id
    from (
        select max(batch_load_id) as load_id from {{ ref('fct_ticket_purchases') }}
        union all
        select max(source_load_id) as load_id from {{ ref('dim_account') }}
        union all
        select max(load_id) as load_id from events
    ) as newest

),

purchases as (

    select
        active_tickets.ticket_key as external_key,
        concat(
            coalesce(active_tickets.event_name, cast(active_tickets.event_id as {{ dbt.type_string() }})),
            ' ', coalesce(active_tickets.section_name, ''),
            ' ', coalesce(active_tickets.row_name, ''),
            ':', cast(active_tickets.seat_num as {{ dbt.type_string() }})
        ) as name,
        assignments.contact_key,
        assignments.account_key,
        active_tickets.acct_id,
        active_tickets.event_id,
        active_tickets.event_name,
        events.event_date,
        active_tickets.season_id,
        active_tickets.plan_event_id,
        active_tickets.plan_event_name,
        active_tickets.section_name,
        active_tickets.row_name,
        active_tickets.seat_num,
        active_tickets.last_seat,
        active_tickets.num_seats,
        active_tickets.price_code,
        active_tickets.price_code_desc,
        active_tickets.ticket_type,
        active_tickets.purchase_price,
        active_tickets.paid_amount,
        active_tickets.owed_amount,
        active_tickets.order_num,
        active_tickets.activation_rule,
        active_tickets.add_datetime as purchased_at,
        active_tickets.upd_datetime as modified_at,
        {#- over the pushed fields: the ticket's own come in through its row hash (the landing's md5
            of its source values), the rest are named; one short md5 instead of 22 values as text
            (at 10M rows ~18 s of the full build) -#}
        {{ kore_row_hash([
            'active_tickets.row_hash', 'assignments.contact_key', 'assignments.account_key',
            'events.event_date', 'active_tickets.season_id', 'active_tickets.event_name'
        ]) }} as row_hash
    from active_tickets
    inner join assignments
        on active_tickets.acct_id = assignments.acct_id
    left join events
        on active_tickets.event_id = events.event_id

)

select
    purchases.*,
    source_watermark.source_load_id as _source_load_id,
    {{ kore_run_stamp() }} as _built_at
from purchases
cross join source_watermark
