{#- Singular test: one row per record_id (never null), source archtics | crm, and
    is_excluded_account_type 0 or 1. One query instead of four generic tests: the view is computed once
    per check, not once per test.
    Tagged code_invariant: the joins behind the view only meet one-row-per-key sides, each checked by
    a unique test that runs whenever its data changes, so this can only break when the SQL changes:
    it runs in full builds (the first one and every project change), not in change-scoped routine
    builds (kore/build_scope.py). -#}
{{ config(tags=['code_invariant']) }}

with records as (

    select
        record_id,
        source,
        is_excluded_account_type,
        count(*) over (partition by record_id) as copies
    from {{ ref('dedup_person_records') }}

)

select
    record_id,
    source,
    is_excluded_account_type,
    copies
from records
where
    record_id is null
    or copies > 1
    or source is null
    or source not in ('archtics', 'crm')
    or is_excluded_account_type is null
    or is_excluded_account_type not in (0, 1)
