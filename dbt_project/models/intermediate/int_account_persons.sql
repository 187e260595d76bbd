{{
    config(
        materialized='incremental',
        unique_key='acct_id',
        incremental_strategy='delete+insert',
        on_schema_change='fail',
        tags=['needs_dedup']
    )
}}
{#- int_account_persons: the person each Archtics account belongs to, for the reporting marts. The person
    is the account's dedup contact (its primary mapping row, then the earliest seen: the same choice as
    int_accounts_assigned), whatever its Account Type -- analysts report on every account, while the
    CRM push leaves excluded types out. An account dedup has not mapped is a person of its own
    ('ACCT-<acct_id>'), so no ticket drops out of a report.

    Incremental (a table that remembers): a run compares the current persons with the ones it holds
    (one row per account) and rewrites only the accounts whose person, contact, cluster, primary flag
    or rep changed, with changed_at (the dbt run) and previous_person_key (the person the account
    belonged to before). The person-level marts (int_person_season_spend, fct_season_ticket_holders)
    recompute both persons of the accounts changed after their own last run. -#}
{%- set incremental = kore_is_incremental() %}
{#- the columns current_persons defines, in its order: what the table holds per account besides its
    change record (previous_person_key, changed_at), compared with the held rows on an incremental run -#}
{%- set person_columns = [
    'acct_id', 'person_key', 'contact_key', 'cluster_id', 'is_primary_account', 'acct_rep_id', 'rep_full_name'
] %}

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

),

current_persons as (

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

),

{%- if incremental %}

changed as (

    select * from current_persons
    except
    select
        {%- for column in person_columns %}
        held.{{ column }}{{ "," if not loop.last }}
        {%- endfor %}
    from {{ this }} as held

),

{%- endif %}

changes as (

    select
        {%- if incremental %}
        changed.*,
        held.person_key as previous_person_key
    from changed
    left join {{ this }} as held
        on changed.acct_id = held.acct_id
        {%- else %}
        current_persons.*,
        {{ kore_typed_null('varchar') }} as previous_person_key
    from current_persons
    {%- endif %}

)

select
    changes.*,
    {{ kore_run_stamp() }} as changed_at
from changes
