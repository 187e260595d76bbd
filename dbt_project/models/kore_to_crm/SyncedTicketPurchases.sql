{{ config(tags=['needs_dedup']) }}
{#- SyncedTicketPurchases (KORE-owned, pushed as TicketPurchaseKoreps): the active Archtics tickets of
    accounts that dedup mapped to a CRM contact, each attached to the account's primary mapping's
    contact (contact_key = the contact's kore_external_key; when an account has several mapping rows
    the one marked is_primary wins, then the earliest seen) and that contact's CRM account
    (account_key). Accounts of an excluded Account Type are never pushed. external_key is the
    ticket's business-key hash: stable across runs, the upsert key in the CRM. -#}

with active_tickets as (

    select * from {{ ref('int_tickets_activated') }}

),

mapping_ranked as (

    select
        {{ kore_to_bigint('acct_id') }} as acct_id,
        cast(crm_contact_key as {{ dbt.type_string() }}) as contact_key,
        row_number() over (
            partition by {{ kore_to_bigint('acct_id') }}
            order by
                cast(is_primary as {{ dbt.type_int() }}) desc,
                cast(first_seen_at as {{ dbt.type_string() }}) asc,
                cast(crm_contact_key as {{ dbt.type_string() }}) asc
        ) as mapping_rank
    from {{ source('kore_dedup', 'account_contact_map') }}
    where crm_contact_key is not null

),

primary_mapping as (

    select
        acct_id,
        contact_key
    from mapping_ranked
    where mapping_rank = 1

),

contacts as (

    select
        cast(contact_key as {{ dbt.type_string() }}) as contact_key,
        cast(account_key as {{ dbt.type_string() }}) as account_key
    from {{ source('kore_dedup', 'golden_contacts') }}

),

accounts as (

    select
        acct_id,
        is_excluded_account_type
    from {{ ref('dim_account') }}

),

events as (

    select
        event_id,
        event_name,
        event_date,
        season_id
    from {{ ref('stg_archtics__events') }}

),

purchases as (

    select
        active_tickets.ticket_key as external_key,
        concat(
            coalesce(
                active_tickets.event_name, events.event_name, cast(active_tickets.event_id as {{ dbt.type_string() }})
            ),
            ' ', coalesce(active_tickets.section_name, ''),
            ' ', coalesce(active_tickets.row_name, ''),
            ':', cast(active_tickets.seat_num as {{ dbt.type_string() }})
        ) as name,
        primary_mapping.contact_key,
        contacts.account_key,
        active_tickets.acct_id,
        active_tickets.event_id,
        coalesce(active_tickets.event_name, events.event_name) as event_name,
        events.event_date,
        events.season_id,
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
        active_tickets.upd_datetime as modified_at
    from active_tickets
    inner join primary_mapping
        on active_tickets.acct_id = primary_mapping.acct_id
    inner join accounts
        on active_tickets.acct_id = accounts.acct_id
    left join contacts
        on primary_mapping.contact_key = contacts.contact_key
    left join events
        on active_tickets.event_id = events.event_id
    where accounts.is_excluded_account_type = 0

)

select
    purchases.*,
    {{ kore_row_hash([
        'external_key', 'name', 'contact_key', 'account_key', 'acct_id', 'event_id', 'event_name',
        'event_date', 'season_id', 'plan_event_id', 'section_name', 'row_name', 'seat_num', 'last_seat',
        'num_seats', 'price_code', 'ticket_type', 'purchase_price', 'paid_amount', 'owed_amount',
        'order_num', 'purchased_at'
    ]) }} as row_hash
from purchases
