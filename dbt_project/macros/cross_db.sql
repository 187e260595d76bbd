{#- Cross-database helpers: one SQL for DuckDB and SQL Server.
    Each macro dispatches on the adapter (duckdb__ / sqlserver__ / default__) so models never contain
    engine-only functions. dbt's own cross-database macros (dbt.hash, dbt.concat, dbt.type_*) are used
    where they exist. -#}

{#- try_cast: DuckDB's dbt.safe_cast is a plain cast (it raises on bad text); both engines have try_cast. -#}
{% macro kore_try_cast(expr, type) -%}
    {{ return(adapter.dispatch('kore_try_cast', 'kore')(expr, type)) }}
{%- endmacro %}

{% macro default__kore_try_cast(expr, type) -%}
    {{ dbt.safe_cast(expr, type) }}
{%- endmacro %}

{% macro duckdb__kore_try_cast(expr, type) -%}
    try_cast({{ expr }} as {{ type }})
{%- endmacro %}

{% macro sqlserver__kore_try_cast(expr, type) -%}
    try_cast({{ expr }} as {{ type }})
{%- endmacro %}

{#- Text (or an already typed value) to timestamp. Accepts 'YYYY-MM-DD HH:MM:SS[.fff]' (Archtics) and
    ISO 8601 with 'T' and a 'Z' or offset (CRM APIs); anything else becomes null, never an error. -#}
{% macro kore_to_timestamp(expr) -%}
    {{ return(adapter.dispatch('kore_to_timestamp', 'kore')(expr)) }}
{%- endmacro %}

{% macro default__kore_to_timestamp(expr) -%}
    {{ kore_try_cast(expr, dbt.type_timestamp()) }}
{%- endmacro %}

{% macro sqlserver__kore_to_timestamp(expr) -%}
    coalesce(
        try_cast({{ expr }} as {{ dbt.type_timestamp() }}),
        try_cast(try_cast({{ expr }} as datetimeoffset) as {{ dbt.type_timestamp() }})
    )
{%- endmacro %}

{% macro kore_to_date(expr) -%}
    {{ kore_try_cast(expr, 'date') }}
{%- endmacro %}

{% macro kore_to_bigint(expr) -%}
    {{ kore_try_cast(expr, dbt.type_bigint()) }}
{%- endmacro %}

{% macro kore_to_decimal(expr) -%}
    {{ kore_try_cast(expr, 'decimal(18, 2)') }}
{%- endmacro %}

{% macro kore_to_string(expr) -%}
    cast({{ expr }} as {{ dbt.type_string() }})
{%- endmacro %}

{#- A null of a given type, for typed empty results and columns a flavour does not have. -#}
{% macro kore_typed_null(data_type) -%}
    {%- set t = data_type | lower -%}
    {%- if t == 'timestamp' -%}cast(null as {{ dbt.type_timestamp() }})
    {%- elif t == 'date' -%}cast(null as date)
    {%- elif t == 'decimal' -%}cast(null as decimal(18, 2))
    {%- elif t in ('int', 'integer', 'bigint') -%}cast(null as {{ dbt.type_bigint() }})
    {%- else -%}cast(null as {{ dbt.type_string() }})
    {%- endif -%}
{%- endmacro %}

{#- Typed cast of a raw text column by the field map's data_type. -#}
{% macro kore_cast_as(expr, data_type) -%}
    {%- set t = data_type | lower -%}
    {%- if t == 'timestamp' -%}{{ kore_to_timestamp(expr) }}
    {%- elif t == 'date' -%}{{ kore_to_date(expr) }}
    {%- elif t == 'decimal' -%}{{ kore_to_decimal(expr) }}
    {%- elif t in ('int', 'integer', 'bigint') -%}{{ kore_to_bigint(expr) }}
    {%- else -%}{{ kore_to_string(expr) }}
    {%- endif -%}
{%- endmacro %}

{#- Row hash over a list of column expressions: null and '' hash differently, the separator keeps
    ('ab','c') and ('a','bc') apart. Used so that a batch that changes nothing writes nothing. -#}
{% macro kore_row_hash(columns) -%}
    {%- set parts = [] -%}
    {%- for c in columns -%}
        {%- do parts.append("coalesce(cast(" ~ c ~ " as " ~ dbt.type_string() ~ "), '~')") -%}
        {%- if not loop.last %}{% do parts.append("'|'") %}{% endif -%}
    {%- endfor -%}
    {{ dbt.hash(dbt.concat(parts)) }}
{%- endmacro %}

{#- Only the digits of a phone number. SQL Server has no regex: strip the usual punctuation and give
    up (null) on anything that still is not all digits. -#}
{% macro kore_digits_only(expr) -%}
    {{ return(adapter.dispatch('kore_digits_only', 'kore')(expr)) }}
{%- endmacro %}

{% macro default__kore_digits_only(expr) -%}
    regexp_replace({{ expr }}, '[^0-9]', '', 'g')
{%- endmacro %}

{% macro sqlserver__kore_digits_only(expr) -%}
    case
        when replace(translate({{ expr }}, '()-.+/', '      '), ' ', '') like '%[^0-9]%' then null
        else replace(translate({{ expr }}, '()-.+/', '      '), ' ', '')
    end
{%- endmacro %}

{#- Phone as E.164 digits (no '+'): 10-digit North American numbers get the leading 1. -#}
{% macro kore_phone_e164(expr) -%}
    {%- set d = kore_digits_only(expr) -%}
    case
        when {{ dbt.length(d) }} = 10 then concat('1', {{ d }})
        when {{ dbt.length(d) }} between 11 and 15 then {{ d }}
    end
{%- endmacro %}

{#- Lower-case letters only (for name keys). -#}
{% macro kore_letters_only(expr) -%}
    {{ return(adapter.dispatch('kore_letters_only', 'kore')(expr)) }}
{%- endmacro %}

{% macro default__kore_letters_only(expr) -%}
    regexp_replace(lower({{ expr }}), '[^a-z]', '', 'g')
{%- endmacro %}

{% macro sqlserver__kore_letters_only(expr) -%}
    replace(replace(replace(replace(replace(lower({{ expr }}), ' ', ''), '-', ''), '''', ''), '.', ''), ',', '')
{%- endmacro %}

{#- American Soundex of a name. SQL Server has SOUNDEX(); DuckDB has none, so it is spelled out:
    keep letters, drop h/w after the first letter, map letters to digit classes (vowels 0), collapse
    runs of one digit, drop the first letter's digit and the vowels, pad to letter + 3 digits. -#}
{% macro kore_soundex(expr) -%}
    {{ return(adapter.dispatch('kore_soundex', 'kore')(expr)) }}
{%- endmacro %}

{% macro default__kore_soundex(expr) -%}
    {%- set s = "regexp_replace(lower(" ~ expr ~ "), '[^a-z]', '', 'g')" -%}
    {%- set body = "concat(left(" ~ s ~ ", 1), regexp_replace(substr(" ~ s ~ ", 2), '[hw]', '', 'g'))" -%}
    {%- set codes = "translate(" ~ body ~ ", 'abcdefghijklmnopqrstuvwxyz', '01230120022455012623010202')" -%}
    {%- set ns = namespace(c=codes) -%}
    {%- for d in range(7) -%}
        {%- set ns.c = "regexp_replace(" ~ ns.c ~ ", '" ~ d ~ "+', '" ~ d ~ "', 'g')" -%}
    {%- endfor -%}
    case
        when {{ s }} = '' then null
        else concat(upper(left({{ s }}, 1)), rpad(left(replace(substr({{ ns.c }}, 2), '0', ''), 3), 3, '0'))
    end
{%- endmacro %}

{% macro sqlserver__kore_soundex(expr) -%}
    case when {{ kore_letters_only(expr) }} = '' then null else soundex({{ expr }}) end
{%- endmacro %}

{#- Street normalised for matching: lower case, punctuation dropped, common suffixes abbreviated.
    Two stages (each a nest of replace() calls) so neither engine's parser nests too deeply: stage 1
    pads with spaces, drops punctuation and abbreviates street types; stage 2 abbreviates unit and
    direction words and trims. kore_normalize_street(x) = stage 2 of stage 1. -#}
{% macro kore_street_abbreviations(stage) -%}
    {%- if stage == 1 -%}
        {{ return([('street', 'st'), ('avenue', 'ave'), ('road', 'rd'), ('drive', 'dr'), ('boulevard', 'blvd'),
            ('lane', 'ln'), ('court', 'ct'), ('place', 'pl'), ('terrace', 'ter'), ('parkway', 'pkwy'),
            ('highway', 'hwy'), ('circle', 'cir'), ('square', 'sq')]) }}
    {%- else -%}
        {{ return([('suite', 'ste'), ('apartment', 'apt'), ('north', 'n'), ('south', 's'), ('east', 'e'),
            ('west', 'w')]) }}
    {%- endif -%}
{%- endmacro %}

{% macro kore_normalize_street_stage(expr, stage) -%}
    {%- if stage == 1 -%}
        {%- set ns = namespace(s="concat(' ', replace(replace(replace(lower(trim(" ~ expr ~ ")), '.', ''), ',', ''), '#', ' '), ' ')") -%}
        {%- set ns.s = "replace(replace(" ~ ns.s ~ ", '  ', ' '), '  ', ' ')" -%}
    {%- else -%}
        {%- set ns = namespace(s=expr) -%}
    {%- endif -%}
    {%- for long, short in kore_street_abbreviations(stage) -%}
        {%- set ns.s = "replace(" ~ ns.s ~ ", ' " ~ long ~ " ', ' " ~ short ~ " ')" -%}
    {%- endfor -%}
    {%- if stage == 1 -%}{{ ns.s }}{%- else -%}nullif(trim({{ ns.s }}), ''){%- endif -%}
{%- endmacro %}

{% macro kore_normalize_street(expr) -%}
    {{ kore_normalize_street_stage(kore_normalize_street_stage(expr, 1), 2) }}
{%- endmacro %}

{#- Lower-cased, trimmed text; empty becomes null. -#}
{% macro kore_clean_lower(expr) -%}
    nullif(lower(trim({{ expr }})), '')
{%- endmacro %}

{% macro kore_clean(expr) -%}
    nullif(trim({{ expr }}), '')
{%- endmacro %}

{#- Case- and accent-sensitive comparison. SQL Server's default collation is case-insensitive, so two
    Salesforce ids that differ only in case would compare equal; DuckDB compares bytes already. -#}
{% macro kore_binary(expr) -%}
    {{ return(adapter.dispatch('kore_binary', 'kore')(expr)) }}
{%- endmacro %}

{% macro default__kore_binary(expr) -%}
    {{ expr }}
{%- endmacro %}

{% macro sqlserver__kore_binary(expr) -%}
    {{ expr }} collate Latin1_General_BIN2
{%- endmacro %}

{#- Typed nulls for a list of 'column:type' (type as kore_typed_null takes it, or int: the engine's
    integer, the type of a literal 1), comma-separated: a row that only carries its key (a tombstone). -#}
{% macro kore_typed_nulls(columns) -%}
    {%- for spec in columns -%}
        {%- set name, data_type = spec.split(':') -%}
        {%- if data_type == 'int' -%}cast(null as {{ dbt.type_int() }}) as {{ name }}
        {%- else -%}{{ kore_typed_null(data_type) }} as {{ name }}
        {%- endif -%}{{ ',\n        ' if not loop.last }}
    {%- endfor -%}
{%- endmacro %}
