{#- dedup_candidate_pairs: the pairs of person records worth scoring (blocking), one row per pair
    (record_id_l < record_id_r) with one blocking key that brought it in (the alphabetically smallest,
    so archtics_acct and email win over the fuzzier keys).
    Keys: exact email; exact phone; last name + zip5; name phonetic (soundex of the last name + first
    initial) + city; the Archtics account id (on an account's primary name, and on CRM contacts that
    already carry it). A key shared by more than var dedup_max_block_size records (a shared office
    phone, a placeholder email) is too common to tell people apart and is skipped. -#}
{%- set max_block = var('dedup_max_block_size', 50) %}

with records as (

    select * from {{ ref('dedup_person_records') }}

),

keys as (

    select
        record_id,
        concat('email:', email) as blocking_key
    from records
    where email is not null

    union all

    select
        record_id,
        concat('phone:', phone) as blocking_key
    from records
    where phone is not null

    union all

    select
        record_id,
        concat('name_zip:', last_name, ':', zip5) as blocking_key
    from records
    where last_name is not null and zip5 is not null

    union all

    select
        record_id,
        concat('phonetic_city:', {{ kore_soundex('last_name') }}, ':', left(first_name, 1), ':', city)
            as blocking_key
    from records
    where last_name is not null and first_name is not null and city is not null

    union all

    select
        record_id,
        concat('archtics_acct:', cast(acct_id as {{ dbt.type_string() }})) as blocking_key
    from records
    where source = 'archtics' and is_primary_name = 1

    union all

    select
        record_id,
        concat('archtics_acct:', archtics_account_id_on_crm) as blocking_key
    from records
    where source = 'crm' and archtics_account_id_on_crm is not null

),

sized as (

    select
        record_id,
        blocking_key,
        count(*) over (partition by blocking_key) as block_size
    from keys

),

blocks as (

    select
        record_id,
        blocking_key
    from sized
    where block_size between 2 and {{ max_block }}

),

pairs as (

    select
        l.record_id as record_id_l,
        r.record_id as record_id_r,
        l.blocking_key
    from blocks as l
    inner join blocks as r
        on
            {{ kore_binary('l.blocking_key') }} = {{ kore_binary('r.blocking_key') }}
            and {{ kore_binary('l.record_id') }} < {{ kore_binary('r.record_id') }}

)

select
    record_id_l,
    record_id_r,
    min(blocking_key) as blocking_key
from pairs
group by record_id_l, record_id_r
