{#- dedup_person_records: the dedup step's input, one row per Archtics name and per CRM contact,
    with match-ready attributes: names, email and city lower-case and trimmed, phone as E.164
    digits, street with common suffixes abbreviated, zip5. Column names are the dedup contract
    (docs/architecture.md): the dedup engine reads exactly these.
    Matching uses the normalised columns; the *_display columns keep the source's own spelling
    (trimmed; state upper-case) because golden contacts -- what the CRM receives -- are built from them.
    CRM contacts also carry their KORE contact key (kore_external_key: a contact KORE created itself
    is that cluster's contact, not a fuzzy match) and their parent account's KORE key. A parent account
    KORE created as a household (AHH...) or person (APN...) account is not a company: its name
    ('Green Household') must not become the contact's company. -#}

with persons as (

    select * from {{ ref('int_persons_unioned') }}

),

crm_keys as (

    select
        contacts.crm_id,
        {{ kore_clean('contacts.kore_external_key') }} as kore_external_key,
        {{ kore_clean('accounts.kore_external_key') }} as crm_account_key
    from {{ ref('SyncedContacts') }} as contacts
    left join {{ ref('SyncedAccounts') }} as accounts
        on {{ kore_binary('contacts.account_id') }} = {{ kore_binary('accounts.crm_id') }}

),

keyed as (

    select
        persons.*,
        crm_keys.kore_external_key,
        crm_keys.crm_account_key,
        case
            when crm_keys.crm_account_key like 'AHH%' or crm_keys.crm_account_key like 'APN%' then null
            else persons.company
        end as company_name
    from persons
    left join crm_keys
        on {{ kore_binary('persons.crm_contact_id') }} = {{ kore_binary('crm_keys.crm_id') }}

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
        {{ kore_clean_lower('company_name') }} as company,
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
        {{ kore_clean('first_name') }} as first_name_display,
        {{ kore_clean('last_name') }} as last_name_display,
        {{ kore_clean('company_name') }} as company_display,
        {{ kore_clean('street') }} as street_display,
        {{ kore_clean('city') }} as city_display,
        upper({{ kore_clean('state') }}) as state_display,
        kore_external_key,
        crm_account_key,
        last_activity_at,
        updated_at
    from keyed

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
    first_name_display,
    last_name_display,
    company_display,
    street_display,
    city_display,
    state_display,
    kore_external_key,
    crm_account_key,
    last_activity_at,
    updated_at,
    {{ kore_row_hash([
        'record_id', 'first_name', 'last_name', 'company', 'email', 'phone', 'street', 'city', 'state',
        'zip5', 'birth_date', 'name_type', 'acct_type_desc', 'is_excluded_account_type',
        'archtics_account_id_on_crm', 'first_name_display', 'last_name_display', 'company_display',
        'street_display', 'city_display', 'state_display', 'kore_external_key', 'crm_account_key'
    ]) }} as row_hash
from streets
