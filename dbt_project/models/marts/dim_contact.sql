{{ config(tags=['needs_dedup']) }}
{#- dim_contact: one golden contact per dedup cluster (what the CRM contact should hold), with the
    number of Archtics accounts mapped to it and its primary account. -#}

with golden as (

    select * from {{ ref('stg_kore_dedup__golden_contacts') }}

),

mapped as (

    select
        crm_contact_key as contact_key,
        count(*) as mapped_account_count,
        sum(case when is_primary = 1 then 1 else 0 end) as primary_account_count
    from {{ ref('stg_kore_dedup__account_contact_map') }}
    group by crm_contact_key

)

select
    golden.contact_key,
    golden.crm_contact_id,
    golden.cluster_id,
    golden.account_key,
    golden.first_name,
    golden.last_name,
    golden.email,
    golden.phone,
    golden.street,
    golden.city,
    golden.state,
    golden.zip5,
    golden.company,
    golden.birth_date,
    golden.primary_acct_id,
    coalesce(mapped.mapped_account_count, 0) as mapped_account_count,
    coalesce(mapped.primary_account_count, 0) as primary_account_count,
    case when golden.crm_contact_id is null then 0 else 1 end as exists_in_crm
from golden
left join mapped
    on golden.contact_key = mapped.contact_key
