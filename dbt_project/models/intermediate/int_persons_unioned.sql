{#- int_persons_unioned: every person the dedup step compares, in one shape: each Archtics name and
    each CRM contact, with raw (not yet normalised) attributes. record_id is stable across runs:
    'A:<acct_id>:<cust_name_id>' or 'C:<crm contact id>'. -#}

with archtics as (

    select
        concat('A:', cast(acct_id as {{ dbt.type_string() }}), ':', cast(cust_name_id as {{ dbt.type_string() }}))
            as record_id,
        'archtics' as source,
        acct_id,
        cust_name_id,
        {{ kore_typed_null('varchar') }} as crm_contact_id,
        is_primary_name,
        first_name,
        last_name,
        company_name as company,
        email,
        phone,
        street,
        city,
        state,
        zip,
        birth_date,
        name_type,
        acct_type_desc,
        {{ kore_typed_null('varchar') }} as archtics_account_id_on_crm,
        last_activity_at,
        updated_at
    from {{ ref('int_archtics_names_enriched') }}

),

crm_contacts as (

    select
        concat('C:', contacts.crm_id) as record_id,
        'crm' as source,
        {{ kore_typed_null('bigint') }} as acct_id,
        {{ kore_typed_null('bigint') }} as cust_name_id,
        contacts.crm_id as crm_contact_id,
        0 as is_primary_name,
        contacts.first_name,
        contacts.last_name,
        accounts.name as company,
        contacts.email,
        coalesce(contacts.mobile_phone, contacts.phone) as phone,
        contacts.street,
        contacts.city,
        contacts.state,
        contacts.postal_code as zip,
        contacts.birth_date,
        'I' as name_type,
        {{ kore_typed_null('varchar') }} as acct_type_desc,
        contacts.archtics_account_id as archtics_account_id_on_crm,
        contacts.modified_at as last_activity_at,
        contacts.modified_at as updated_at
    from {{ ref('stg_crm__contacts') }} as contacts
    left join {{ ref('stg_crm__accounts') }} as accounts
        on contacts.account_id = accounts.crm_id

)

select * from archtics

union all

select * from crm_contacts
