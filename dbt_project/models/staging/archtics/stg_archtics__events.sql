{#- stg_archtics__events: one row per event or plan.
    Typed copy of raw_archtics.evnt (every value arrives as text); the newest upd_date wins per business key
    (event_id). Source column names are kept so a real export maps on without renaming. -#}
{%- set columns = {
    'event_id': 'bigint',
    'event_name': 'varchar',
    'event_name_long': 'varchar',
    'event_date': 'date',
    'event_time': 'varchar',
    'event_day': 'varchar',
    'team': 'varchar',
    'plan_code': 'varchar',
    'plan_type': 'varchar',
    'plan_abv': 'varchar',
    'season_id': 'bigint',
    'season_name': 'varchar',
    'total_events': 'bigint',
    'arena_name': 'varchar',
    'event_type': 'varchar',
    'major_category': 'varchar',
    'minor_category': 'varchar',
    'enabled': 'varchar',
    'add_date': 'timestamp',
    'upd_date': 'timestamp',
    'upd_user': 'varchar'
} -%}

with

{{ kore_staged_latest(
    source('archtics', 'evnt'),
    columns,
    ['event_id'],
    'upd_date desc, load_id desc, source_line desc',
    renames={'plan_code': 'plan'}
) }}

select
    {%- for column in columns %}
    {{ column }},
    {%- endfor %}
    case when plan_code is null or plan_code = 'N' then 0 else 1 end as is_plan,
    {{ kore_staged_row_hash(columns.keys() | list) }} as row_hash,
    load_id,
    source_file,
    source_line
from ranked
where latest_rank = 1
