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

{%- set available = kore_relation_columns(source('archtics', 'evnt')) %}
{#- plan_code is made from "plan" in the source CTE below -#}
{%- if available is not none %}{% do available.append('plan_code') %}{% endif %}

with source as (

    -- "plan" is a reserved word in T-SQL: quoted, and renamed to plan_code
    select
        src.*,
        {%- if available is none or 'plan' in available %}
        src."plan" as plan_code  -- noqa: RF06
        {%- else %}
        {{ kore_typed_null('varchar') }} as plan_code
        {%- endif %}
    from {{ source('archtics', 'evnt') }} as src

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
            partition by event_id
            order by upd_date desc, load_id desc, source_line desc
        ) as latest_rank
    from typed

)

select
    {%- for column in columns %}
    {{ column }},
    {%- endfor %}
    case when plan_code is null or plan_code = 'N' then 0 else 1 end as is_plan,
    {{ kore_row_hash(columns.keys() | list) }} as row_hash,
    load_id,
    source_file,
    source_line
from ranked
where latest_rank = 1
