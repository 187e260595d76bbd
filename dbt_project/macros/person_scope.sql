{#- The person-level reporting marts (int_person_season_spend, fct_season_ticket_holders) are incremental
    by person: a run recomputes every row of the persons whose inputs changed since the mart was built,
    and only those, so the result is the same as a full rebuild's. A person's rows depend on the active
    tickets of all the person's accounts and on which accounts are the person's (int_account_persons).
    So the persons in scope are

      - the persons of the accounts with ticket rows fct_ticket_purchases re-decided after the mart's
        watermark (source_load_id), plus the accounts `extra_accounts` names (a select of acct_id);
      - the current and the previous person of every account int_account_persons changed after the
        mart's persons_changed_at (dedup moved it, or its contact, cluster, primary flag or rep changed);
      - everyone, when `rebuild_all` (a condition over cross-person inputs, such as the season order)
        holds (a mart keyed by person_key; a mart keyed otherwise leaves it out and widens its own scope).

    Three CTEs come out: built_watermark, scope_persons (person_key) and scope_accounts (acct_id: every
    current account of those persons, which is what the mart reads the tickets of). The mart writes
    with delete+insert on person_key, and a person in scope with no rows any more gets one row whose
    other key columns are null (a tombstone: it deletes the person's old rows), removed by the model's
    post-hook (kore_delete_tombstones). -#}
{% macro kore_person_scope(extra_accounts=none, rebuild_all=none) -%}
built_watermark as (

    select
        coalesce(max(built.source_load_id), '') as source_load_id,
        coalesce(max(built.persons_changed_at), '') as persons_changed_at
    from {{ this }} as built

),

changed_accounts as (

    select changed_tickets.acct_id
    from {{ ref('fct_ticket_purchases') }} as changed_tickets
    where changed_tickets.batch_load_id > (select built_watermark.source_load_id from built_watermark)
    {%- if extra_accounts %}
    union
    select extra.acct_id
    from ({{ extra_accounts }}) as extra
    {%- endif %}

),

moved_accounts as (

    select
        moved.person_key,
        moved.previous_person_key
    from {{ ref('int_account_persons') }} as moved
    where moved.changed_at > (select built_watermark.persons_changed_at from built_watermark)

),

scope_persons as (

    select coalesce(owners.person_key, {{ dbt.concat(["'ACCT-'", kore_to_string('changed_accounts.acct_id')]) }})
        as person_key
    from changed_accounts
    left join {{ ref('int_account_persons') }} as owners
        on changed_accounts.acct_id = owners.acct_id
    union
    select moved_accounts.person_key
    from moved_accounts
    union
    select moved_accounts.previous_person_key as person_key
    from moved_accounts
    where moved_accounts.previous_person_key is not null
    {%- if rebuild_all %}
    union
    select built.person_key
    from {{ this }} as built
    where {{ rebuild_all }}
    union
    select everyone.person_key
    from {{ ref('int_account_persons') }} as everyone
    where {{ rebuild_all }}
    {%- endif %}

),

scope_accounts as (

    select members.acct_id
    from {{ ref('int_account_persons') }} as members
    where members.person_key in (select scope_persons.person_key from scope_persons)
    union
    select changed_accounts.acct_id
    from changed_accounts

)
{%- endmacro %}

{#- The condition a person-level mart's ticket scan keeps a ticket row by: its account is in scope,
    or everything is (rebuild_all). -#}
{% macro kore_in_person_scope(acct_id, rebuild_all='1 = 0') -%}
    ({{ rebuild_all }} or {{ acct_id }} in (select scope_accounts.acct_id from scope_accounts))
{%- endmacro %}

{#- Post-hook of the person-level marts: remove the tombstones (rows whose key column is null) the
    incremental run wrote to delete the old rows of persons that have none now. -#}
{% macro kore_delete_tombstones(key_column) -%}
    delete from {{ this }} where {{ key_column }} is null
{%- endmacro %}
