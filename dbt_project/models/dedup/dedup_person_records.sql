{#- dedup_person_records: the dedup step's input, one row per Archtics name and per CRM contact,
    with match-ready attributes: names, email and city lower-case and trimmed, phone as E.164
    digits, street with common suffixes abbreviated, zip5. Column names are the dedup contract
    (docs/architecture.md): the dedup engine reads exactly these. -#}

with persons as (

    select * from {{ ref('int_persons_unioned') }}

),

normalised as (

    select
        record_id,
        source,
        acct_id,
        cust_name_id,
        crm_contact_id,
        is_primary_name,
        {{ kore_clean_lower('first_name') }} as first_name,
        {{ kore_clean_lower('last_name') }} as last_name,
        {{ kore_clean_lower('company') }} as company,
        case when email like '%_@_%' then {{ kore_clean_lower('email') }} end as email,
        {{ kore_phone_e164('phone') }} as phone,
        {{ kore_normalize_street_stage('street', 1) }} as street_stage_1,
        {{ kore_clean_lower('city') }} as city,
        {{ kore_clean_lower('state') }} as state,
        case
            when {{ kore_digits_only('zip') }} like '_____%' then left({{ kore_digits_only('zip') }}, 5)
        end as zip5,
        birth_date,
        name_type,
        acct_type_desc,
        {{ kore_is_excluded_account_type('acct_type_desc') }} as is_excluded_account_type,
        {{ kore_clean('archtics_account_id_on_crm') }} as archtics_account_id_on_crm,
        last_activity_at,
        updated_at
    from persons

),

streets as (

    select
        normalised.*,
        {{ kore_normalize_street_stage('street_stage_1', 2) }} as street
    from normalised

)

select
    record_id,
    source,
    acct_id,
    cust_name_id,
    crm_contact_id,
    is_primary_name,
    first_name,
    last_name,
    nullif(trim(concat(coalesce(first_name, ''), ' ', coalesce(last_name, ''))), '') as full_name,
    company,
    email,
    phone,
    street,
    city,
    state,
    zip5,
    birth_date,
    name_type,
    acct_type_desc,
    is_excluded_account_type,
    archtics_account_id_on_crm,
    last_activity_at,
    updated_at,
    {{ kore_row_hash([
        'record_id', 'first_name', 'last_name', 'company', 'email', 'phone', 'street', 'city', 'state',
        'zip5', 'birth_date', 'name_type', 'acct_type_desc', 'is_excluded_account_type',
        'archtics_account_id_on_crm'
    ]) }} as row_hash
from streets
