{#- int_archtics_account_merges: Archtics account merges, read from the notes Archtics writes
    ("Merged account <old> into <new>", any case, extra spaces, maybe a final '.'): the old account's
    records now belong to the new one. The one parser of these notes; tests/test_account_merge_notes.py
    holds it to the note format of kore.contracts.archtics. -#}

with merge_notes as (

    select
        note_id,
        acct_id,
        ltrim(text) as note_text,
        upd_datetime,
        load_id,
        {{ dbt.position("' into '", 'lower(ltrim(text))') }} as into_position
    from {{ ref('stg_archtics__notes') }}
    where is_account_merge = 1

),

parsed as (

    select
        note_id,
        acct_id as noted_on_acct_id,
        upd_datetime as merged_at,
        load_id,
        {{ kore_to_bigint("trim(substring(note_text, 16, into_position - 16))") }} as old_acct_id,
        {{ kore_to_bigint("trim(replace(substring(note_text, into_position + 6, 40), '.', ''))") }} as new_acct_id
    from merge_notes
    where into_position > 16

)

select
    note_id,
    noted_on_acct_id,
    old_acct_id,
    new_acct_id,
    merged_at,
    load_id
from parsed
where old_acct_id is not null and new_acct_id is not null
