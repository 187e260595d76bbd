{#- Singular test: SyncedActivities holds exactly the rows of the six activity staging models
    (a union that drops or duplicates a kind fails here). -#}
with staged as (

    select count(*) as staged_rows
    from (
        select crm_id from {{ ref('stg_crm__faxes') }}
        union all
        select crm_id from {{ ref('stg_crm__letters') }}
        union all
        select crm_id from {{ ref('stg_crm__appointments') }}
        union all
        select crm_id from {{ ref('stg_crm__emails') }}
        union all
        select crm_id from {{ ref('stg_crm__phone_calls') }}
        union all
        select crm_id from {{ ref('stg_crm__tasks') }}
    ) as activities

),

synced as (

    select count(*) as synced_rows
    from {{ ref('SyncedActivities') }}

)

select
    staged.staged_rows,
    synced.synced_rows
from staged
cross join synced
where staged.staged_rows <> synced.synced_rows
