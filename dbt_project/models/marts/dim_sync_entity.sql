{#- dim_sync_entity: the entity registry as the configured CRM flavour runs it -- one row per entity
    with its CRM name in that flavour, whether it syncs there at all, and its position in the run
    (Salesforce pushes KORE entities in the "new Salesforce" order, run_order_new_sf). -#}
{%- set flavor = var('crm_flavor') %}

with registry as (

    select * from {{ ref('entity_registry') }}

)

select
    entity,
    direction,
    product_area,
    kore_table,
    {%- if flavor == 'salesforce' %}
    salesforce_entity as crm_entity,
    case when salesforce_entity = 'not synced' then 0 else 1 end as is_synced,
    case when direction = 'kore_to_crm' then run_order_new_sf else run_order end as run_position,
    {%- else %}
    dynamics_entity as crm_entity,
    case when dynamics_entity = 'not synced' then 0 else 1 end as is_synced,
    run_order as run_position,
    {%- endif %}
    dependency_level,
    prerequisites,
    crm_references,
    '{{ flavor }}' as crm_flavor
from registry
