{{
    config(
        materialized='incremental',
        unique_key='acct_id',
        incremental_strategy='delete+insert',
        on_schema_change='fail',
        tags=['needs_dedup']
    )
}}
{#- int_accounts_assigned: the CRM contact (and that contact's CRM account) each Archtics account's
    tickets are pushed under -- the account's primary mapping row (then the earliest seen) from
    dedup's mapping table -- with changed_at, the dbt run that last changed it.

    Incremental (a table, not a view, because it remembers): a run compares dedup's current
    assignments with the ones it holds (about one row per account, not per ticket) and writes only the
    accounts whose contact or CRM account changed, or that lost their assignment (is_assigned = 0:
    unmapped, or now of an excluded Account Type). SyncedTicketPurchases rebuilds the accounts changed
    after its own last run. -#}
{%- set incremental = kore_is_incremental() %}

with mapping_ranked as (

    select
        acct_id,
        crm_contact_key as contact_key,
        row_number() over (
            partition by acct_id
            order by
                is_primary desc,
                first_seen_at asc,
                crm_contact_key asc
        ) as mapping_rank
    from {{ ref('stg_kore_dedup__account_contact_map') }}
    where crm_contact_key is not null

),

golden as (

    select
        contact_key,
        account_key
    from {{ ref('stg_kore_dedup__golden_contacts') }}

),

accounts as (

    select
        acct_id,
        is_excluded_account_type
    from {{ ref('dim_account') }}

),

assigned as (

    select
        mapping_ranked.acct_id,
        mapping_ranked.contact_key,
        golden.account_key
    from mapping_ranked
    inner join accounts
        on mapping_ranked.acct_id = accounts.acct_id
    left join golden
        on mapping_ranked.contact_key = golden.contact_key
    where
        mapping_ranked.mapping_rank = 1
        and accounts.is_excluded_account_type = 0

),

{%- if incremental %}

reassigned as (

    select
        assigned.acct_id,
        assigned.contact_key,
        assigned.account_key
    from assigned
    except
    select
        held.acct_id,
        held.contact_key,
        held.account_key
    from {{ this }} as held
    where held.is_assigned = 1

),

unassigned as (

    select held.acct_id
    from {{ this }} as held
    where
        held.is_assigned = 1
        and held.acct_id not in (select assigned.acct_id from assigned)

),

{%- endif %}

changes as (

    select
        acct_id,
        contact_key,
        account_key,
        1 as is_assigned
    from {{ 'reassigned' if incremental else 'assigned' }}
    {%- if incremental %}

    union all

    select
        acct_id,
        cast(null as {{ dbt.type_string() }}) as contact_key,
        cast(null as {{ dbt.type_string() }}) as account_key,
        0 as is_assigned
    from unassigned
    {%- endif %}

)

select
    acct_id,
    contact_key,
    account_key,
    is_assigned,
    {{ kore_run_stamp() }} as changed_at
from changes
