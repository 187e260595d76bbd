{#- stg_archtics__seasons: one row per season.
    Typed copy of raw_archtics.season (every value arrives as text); the newest upd_datetime wins per business key
    (season_id). Source column names are kept so a real export maps on without renaming. -#}
{%- set columns = {
    'season_id': 'bigint',
    'name': 'varchar',
    'season_year': 'varchar',
    'arena_id': 'bigint',
    'manifest_id': 'bigint',
    'org_id': 'bigint',
    'add_datetime': 'timestamp',
    'upd_datetime': 'timestamp'
} -%}

with

{{ kore_staged_latest(
    source('archtics', 'season'),
    columns,
    ['season_id'],
    'upd_datetime desc, load_id desc, source_line desc'
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
