{#- Singular test: every candidate pair names two different records in order (record_id_l <
    record_id_r), both present in dedup_person_records, once, with the blocking key that brought it in.
    One query instead of six generic tests: the view is computed once per check, not once per test. -#}
with pairs as (

    select
        record_id_l,
        record_id_r,
        blocking_key,
        count(*) over (partition by record_id_l, record_id_r) as copies
    from {{ ref('dedup_candidate_pairs') }}

),

records as (

    select record_id
    from {{ ref('dedup_person_records') }}

)

select
    pairs.record_id_l,
    pairs.record_id_r
from pairs
left join records as left_record
    on pairs.record_id_l = left_record.record_id
left join records as right_record
    on pairs.record_id_r = right_record.record_id
where
    pairs.record_id_l is null
    or pairs.record_id_r is null
    or pairs.blocking_key is null
    or not (pairs.record_id_l < pairs.record_id_r)
    or pairs.copies > 1
    or left_record.record_id is null
    or right_record.record_id is null
