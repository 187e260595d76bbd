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

with

{{ kore_staged_latest(
    source('archtics', 'events_in_plan'),
    columns,
    ['plan_group_id', 'plan_event_id', 'event_id', 'season_id'],
    'event_date desc, load_id desc, source_line desc'
) }}

select
    {%- for column in columns %}
    {{ column }},
    {%- endfor %}
    {{ kore_staged_row_hash(columns.keys() | list) }} as row_hash,
    load_id,
    source_file,
    source_line
from ranked
where latest_rank = 1
