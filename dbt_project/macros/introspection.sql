{#- Compile-time database introspection, guarded so that `dbt compile --target sqlserver
    --no-populate-cache` works with no server: with var kore_offline = true nothing is looked up. -#}

{#- is_incremental() asks the database whether the model's table exists. Offline it answers from
    var kore_assume_incremental, so the parity check can compile both branches. -#}
{% macro kore_is_incremental() -%}
    {%- if var('kore_offline', false) -%}
        {{ return(var('kore_assume_incremental', false)) }}
    {%- else -%}
        {{ return(is_incremental()) }}
    {%- endif -%}
{%- endmacro %}

{#- Does a (source) relation exist? dlt creates no table for an entity that never had rows, so
    models over optional sources fall back to an empty, typed result instead of failing. -#}
{% macro kore_relation_exists(relation) -%}
    {%- if not execute or var('kore_offline', false) or kore_is_fixture(relation) -%}
        {{ return(true) }}
    {%- endif -%}
    {%- set found = adapter.get_relation(
        database=relation.database, schema=relation.schema, identifier=relation.identifier) -%}
    {%- if found is none -%}
        {{ log("kore: source " ~ relation ~ " does not exist yet; building an empty result", info=true) }}
    {%- endif -%}
    {{ return(found is not none) }}
{%- endmacro %}

{#- Lower-cased column names of a relation, or none when they cannot be looked up (parse time,
    offline compile) -- then every column is assumed present. dlt creates a column only once a
    non-null value arrived, so a field nobody filled in yet has no column in the raw table. -#}
{% macro kore_relation_columns(relation) -%}
    {%- if not execute or var('kore_offline', false) -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set real = kore_fixture_source(relation) if kore_is_fixture(relation) else relation -%}
    {%- if real is none -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set names = [] -%}
    {%- for c in adapter.get_columns_in_relation(real) -%}
        {%- do names.append(c.name | lower) -%}
    {%- endfor -%}
    {{ return(names) }}
{%- endmacro %}

{#- A raw column typed by the field map's data type, or a typed null when the raw table lacks it;
    quoted=true quotes its name (a raw name that is a reserved word). -#}
{% macro kore_raw_column(available, column, data_type, quoted=false) -%}
    {%- if available is none or (column | lower) in available -%}
        {{ kore_cast_as(adapter.quote(column) if quoted else column, data_type) }}
    {%- else -%}
        {{ kore_typed_null(data_type) }}
    {%- endif -%}
{%- endmacro %}

{#- In a unit test a source() is a fixture CTE, not a table: it always "exists", and its columns
    are those of the real source table (dbt builds the fixture from them), found through the graph. -#}
{% macro kore_is_fixture(relation) -%}
    {{ return(relation.type == 'cte') }}
{%- endmacro %}

{% macro kore_fixture_source(relation) -%}
    {#- the fixture CTE is named __dbt__cte__<source name>__<table>; the graph is not available in a
        unit test, so the source's schema comes from this project's naming (raw_<source> for landed
        data, the source name otherwise). -#}
    {%- set landed = {'archtics': 'raw_archtics', 'crm': 'raw_crm', 'kore_app': 'raw_kore_app'} -%}
    {%- set name = relation.identifier | replace('__dbt__cte__', '') -%}
    {%- for source_name, schema in landed.items() -%}
        {%- if name.startswith(source_name ~ '__') -%}
            {{ return(api.Relation.create(database=target.database, schema=schema,
                identifier=name[(source_name | length) + 2:])) }}
        {%- endif -%}
    {%- endfor -%}
    {{ return(none) }}
{%- endmacro %}
