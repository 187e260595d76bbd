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

{%- set available = kore_relation_columns(source('archtics', 'season')) %}

with source as (

    select * from {{ source('archtics', 'season') }}

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
            partition by season_id
            order by upd_datetime desc, load_id desc, source_line desc
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
