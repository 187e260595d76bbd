{{ config(tags=['needs_dedup']) }}
{#- dim_contact: one golden contact per dedup cluster (what the CRM contact should hold), with the
    number of Archtics accounts mapped to it and its primary account. -#}

with golden as (

    select * from {{ source('kore_dedup', 'golden_contacts') }}

),

mapped as (

    select
        cast(crm_contact_key as {{ dbt.type_string() }}) as contact_key,
        count(*) as mapped_account_count,
        sum(case when cast(is_primary as {{ dbt.type_int() }}) = 1 then 1 else 0 end) as primary_account_count
    from {{ source('kore_dedup', 'account_contact_map') }}
    group by cast(crm_contact_key as {{ dbt.type_string() }})

)

select
    cast(golden.contact_key as {{ dbt.type_string() }}) as contact_key,
    cast(golden.crm_contact_id as {{ dbt.type_string() }}) as crm_contact_id,
    cast(golden.cluster_id as {{ dbt.type_string() }}) as cluster_id,
    cast(golden.account_key as {{ dbt.type_string() }}) as account_key,
    cast(golden.first_name as {{ dbt.type_string() }}) as first_name,
    cast(golden.last_name as {{ dbt.type_string() }}) as last_name,
    cast(golden.email as {{ dbt.type_string() }}) as email,
    cast(golden.phone as {{ dbt.type_string() }}) as phone,
    cast(golden.street as {{ dbt.type_string() }}) as street,
    cast(golden.city as {{ dbt.type_string() }}) as city,
    cast(golden.state as {{ dbt.type_string() }}) as state,
    cast(golden.zip5 as {{ dbt.type_string() }}) as zip5,
    cast(golden.company as {{ dbt.type_string() }}) as company,
    {{ kore_to_date('golden.birth_date') }} as birth_date,
    {{ kore_to_bigint('golden.primary_acct_id') }} as primary_acct_id,
    coalesce(mapped.mapped_account_count, 0) as mapped_account_count,
    coalesce(mapped.primary_account_count, 0) as primary_account_count,
    case when golden.crm_contact_id is null then 0 else 1 end as exists_in_crm
from golden
left join mapped
    on cast(golden.contact_key as {{ dbt.type_string() }}) = mapped.contact_key
