{#- Singular test: every candidate pair names two different records in order (record_id_l <
    record_id_r), once, with the blocking key that brought it in. One query instead of five generic
    tests: the view is computed once per check, not once per test. (The pairs are built from
    dedup_person_records inside the view itself, so both ids are records by construction.)
    Tagged code_invariant: the view's SQL guarantees this (group by the pair, l < r) once
    dedup_person_records has unique ids, so it runs in full builds -- the first one and every project
    change -- not in change-scoped routine builds (kore/build_scope.py); the dedup step orders and
    de-duplicates the pairs it reads in any case. -#}
{{ config(tags=['code_invariant']) }}

with pairs as (

    select
        record_id_l,
        record_id_r,
        blocking_key,
        count(*) over (partition by record_id_l, record_id_r) as copies
    from {{ ref('dedup_candidate_pairs') }}

)

select
    record_id_l,
    record_id_r
from pairs
where
    record_id_l is null
    or record_id_r is null
    or blocking_key is null
    or not (record_id_l < record_id_r)
    or copies > 1
