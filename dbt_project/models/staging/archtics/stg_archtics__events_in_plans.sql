{#- stg_archtics__events_in_plans: one row per event of a plan.
    Typed copy of raw_archtics.events_in_plan (every value arrives as text); the newest event_date wins per business key
    (plan_group_id, plan_event_id, event_id, season_id). Source column names are kept so a real export maps on without renaming. -#}
{%- set columns = {
    'plan_group_id': 'bigint',
    'plan_group_name': 'varchar',
    'plan_event_id': 'bigint',
    'plan_event_name': 'varchar',
    'plan_total_events': 'bigint',
    'plan_type': 'varchar',
    'event_id': 'bigint',
    'event_name': 'varchar',
    'event_date': 'date',
    'event_time': 'varchar',
    'team': 'varchar',
    'game_number': 'bigint',
    'total_events': 'bigint',
    'tm_event_name': 'varchar',
    'child_is_plan': 'varchar',
    'season_id': 'bigint'
} -%}

{%- set available = kore_relation_columns(source('archtics', 'events_in_plan')) %}

with source as (

    select * from {{ source('archtics', 'events_in_plan') }}

),

typed as (

    select
        {%- for column, data_type in columns.items() %}
        {{ kore_raw_column(available, column, data_type) }} as {{ column }},
        {%- endfor %}
        _dlt_load_id as load_id,
        _source_file as source_file,
        {{ kore_to_bigint('_source_line') }} as source_line
    from source

),

ranked as (

    select
        typed.*,
        row_number() over (
            partition by plan_group_id, plan_event_id, event_id, season_id
            order by event_date desc, load_id desc, source_line desc
        ) as latest_rank
    from typed

)

select
    {%- for column in columns %}
    {{ column }},
    {%- endfor %}
    {{ kore_row_hash(columns.keys() | list) }} as row_hash,
    load_id,
    source_file,
    source_line
from ranked
where latest_rank = 1
