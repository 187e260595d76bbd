{{ config(materialized='table', tags=['needs_dedup']) }}
{#- int_account_persons: the person each Archtics account belongs to, for the reporting marts. The person
    is the account's dedup contact (its primary mapping row, then the earliest seen: the same choice as
    int_accounts_assigned), whatever its Account Type -- analysts report on every account, while the
    CRM push leaves excluded types out. An account dedup has not mapped is a person of its own
    ('ACCT-<acct_id>'), so no ticket drops out of a report. A table: three marts read it, and it costs a
    scan of the mapping table (one row per account). -#}

with mapping_ranked as (

    select
        acct_id,
        crm_contact_key,
        cluster_id,
        is_primary,
        row_number() over (
            partition by acct_id
            order by is_primary desc, first_seen_at asc, crm_contact_key asc
        ) as mapping_rank
    from {{ ref('stg_kore_dedup__account_contact_map') }}
    where crm_contact_key is not null

),

accounts as (

    select
        acct_id,
        acct_rep_id,
        rep_full_name
    from {{ ref('dim_account') }}

)

select
    accounts.acct_id,
    coalesce(
        mapping_ranked.crm_contact_key,
        {{ dbt.concat(["'ACCT-'", kore_to_string('accounts.acct_id')]) }}
    ) as person_key,
    mapping_ranked.crm_contact_key as contact_key,
    mapping_ranked.cluster_id,
    coalesce(mapping_ranked.is_primary, 1) as is_primary_account,
    accounts.acct_rep_id,
    accounts.rep_full_name
from accounts
left join mapping_ranked
    on
        accounts.acct_id = mapping_ranked.acct_id
        and mapping_ranked.mapping_rank = 1
