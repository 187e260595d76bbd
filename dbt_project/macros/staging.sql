{#- The shared body of every Archtics staging model: raw text typed by a column map, one row per
    business key, the newest change winning.

    Emits the CTEs the model's final select reads: `typed` (the raw rows, typed, plus the landing's
    load_id / source_file / source_line), `keyed` (when key_name is given: typed plus a hash of the
    business key, the incremental unique_key) and `ranked` (latest_rank = 1 on the row that wins its
    key), and for incremental models `batch` (batch_load_id: the newest load of the run, stored on
    every row the run writes, so tests can check just those rows; see macros/test_scope.sql). The
    model then selects `from ranked where latest_rank = 1` (cross join batch).

    Incremental models (the large tables: tickets, names, e-mails, addresses) read only the raw rows
    of dlt loads newer than the newest load already staged, and let the rows already staged under the
    same keys compete with them -- so a late-landing older change never replaces a newer one, and a
    run costs what landed, not what the warehouse holds. dbt's delete+insert on key_name then swaps
    the winners in.

    The ranking partitions by key_name when there is one (one hashed column: at 10M ticket rows about
    a third faster than the six business-key columns, and the same groups). `typed` carries
    `landed_row_hash`: the landing's md5 of the row's source values (raw `_row_hash`), so the model's
    row_hash (kore_staged_row_hash) is not computed a second time over every typed column -- that
    was half of the tickets model's full build; rows already staged keep their stored hash.

    `batch` reads the newest load id from the source table itself, not from `candidates` (the same
    value: rows already staged are older than every new load): a CTE that two others read is
    materialised by DuckDB, and `source_rows` read twice held the whole raw table (10M ticket rows x
    ~50 text columns) in memory -- at 1M accounts ~4 GB more and a tickets build several times slower.

    A full build of a keyed model ranks only the rows of keys that occur more than once, on a narrow
    projection (`row_keys`: the key, the order columns and the row's identity), and leaves the
    superseded rows out of the scan (`superseded`, `source_rows`); every other row wins alone. Why: the
    window over the typed rows sorted every column of every row -- at 1M accounts (10.2M ticket
    rows, every key once, the build's memory limit) 45.5 s alone, 88 s of CPU; this way 34 s, 66 s
    of CPU, the same rows. A row's identity is its load id, `_dlt_id` and source line (`load_id`,
    `landed_row_id`, `landed_line`; nulls as '': a unit test's fixture rows have no `_dlt_id`); an
    identity that also wins its key is never left out, so two rows sharing one can only leave a
    duplicate key (which the model's unique test reports), never lose a key.
    Incremental runs rank their few candidates with the window, as before.

    `renames` maps a typed column to its raw name when the source's name cannot be used as is (evnt's
    `plan` is a T-SQL reserved word: it is read quoted and named plan_code). -#}
{% macro kore_staged_latest(source_relation, columns, key_columns, order_by, key_name=none, renames=none) -%}
{%- set available = kore_relation_columns(source_relation) -%}
{%- set incremental = key_name is not none and kore_is_incremental() -%}
{#- the raw rows of loads newer than the newest one already staged (source_rows and batch) -#}
{%- set newer_loads = "where _dlt_load_id > (select coalesce(max(load_id), '') from " ~ this ~ ")" -%}
{%- set prefilter = key_name is not none and not incremental -%}
{%- if prefilter %}
{#- the typed columns the ranking reads: the business key's and the order's (load_id and source_line
    are the landing's columns, typed as `typed` types them) -#}
{%- set order_columns = [] -%}
{%- for part in order_by.split(',') -%}
    {%- do order_columns.append(part.strip().split(' ')[0]) -%}
{%- endfor -%}
{%- set rank_columns = [] -%}
{%- for column in key_columns + order_columns -%}
    {%- if column in columns and column not in rank_columns -%}{%- do rank_columns.append(column) -%}{%- endif -%}
{%- endfor -%}
{#- a raw row's identity (the raw table read as `landed`), the same in row_keys and source_rows -#}
{%- set landed_id = 'landed._dlt_id' if available is none or '_dlt_id' in available else "''" -%}
{%- set landed_row_id = "coalesce(" ~ kore_to_string(landed_id) ~ ", '')" -%}
{%- set landed_line = "coalesce(" ~ kore_to_string('landed._source_line') ~ ", '')" %}
row_keys as (

    select
        {{ kore_row_hash(key_columns) }} as row_key,
        narrow.*
    from (
        select
            {%- for column in rank_columns %}
            {%- set raw_name = (renames or {}).get(column) %}
            {{ kore_raw_column(available, raw_name or column, columns[column], quoted=raw_name is not none) }} as {{ column }},
            {%- endfor %}
            _dlt_load_id as load_id,
            {{ kore_to_bigint('_source_line') }} as source_line,
            {{ landed_row_id }} as landed_row_id,
            {{ landed_line }} as landed_line
        from {{ source_relation }} as landed
    ) as narrow

),

ranked_rows as (

    select
        load_id,
        landed_row_id,
        landed_line,
        row_number() over (
            partition by row_key
            order by {{ order_by }}
        ) as latest_rank
    from row_keys
    where row_key in (
        select dupes.row_key
        from row_keys as dupes
        group by dupes.row_key
        having count(*) > 1
    )

),

superseded as (

    select
        load_id,
        landed_row_id,
        landed_line
    from ranked_rows
    where latest_rank > 1
    except
    select
        load_id,
        landed_row_id,
        landed_line
    from ranked_rows
    where latest_rank = 1

),
{%- endif %}

source_rows as (

    {%- if prefilter %}
    {#- an anti join on a left join, not NOT EXISTS: DuckDB plans the correlated form as a delim
        join that buffers every raw row (69-85 s instead of 34 s for the 1M tickets) -#}
    select landed.*
    from {{ source_relation }} as landed
    left join superseded
        on
            landed._dlt_load_id = superseded.load_id
            and {{ landed_row_id }} = superseded.landed_row_id
            and {{ landed_line }} = superseded.landed_line
    where superseded.load_id is null
    {%- else %}
    select * from {{ source_relation }}
    {%- if incremental %}
    {{ newer_loads }}
    {%- endif %}
    {%- endif %}

),

typed as (

    select
        {%- for column, data_type in columns.items() %}
        {%- set raw_name = (renames or {}).get(column) %}
        {%- if raw_name %}
        {{ kore_raw_column(available, raw_name, data_type, quoted=true) }} as {{ column }},
        {%- else %}
        {{ kore_raw_column(available, column, data_type) }} as {{ column }},
        {%- endif %}
        {%- endfor %}
        {{ kore_raw_column(available, '_row_hash', 'varchar') }} as landed_row_hash,
        _dlt_load_id as load_id,
        _source_file as source_file,
        {{ kore_to_bigint('_source_line') }} as source_line
    from source_rows

),

{%- if key_name %}

keyed as (

    select
        {{ kore_row_hash(key_columns) }} as {{ key_name }},
        typed.*
    from typed

),
{%- endif %}

candidates as (

    select * from {{ 'keyed' if key_name else 'typed' }}
    {%- if incremental %}

    union all

    select
        {{ key_name }},
        {%- for column in columns %}
        {{ column }},
        {%- endfor %}
        row_hash as landed_row_hash,
        load_id,
        source_file,
        source_line
    from {{ this }}
    where {{ key_name }} in (select keyed.{{ key_name }} from keyed)
    {%- endif %}

),

{%- if key_name %}

batch as (

    select max(_dlt_load_id) as batch_load_id
    from {{ source_relation }}
    {%- if incremental %}
    {{ newer_loads }}
    {%- endif %}

),
{%- endif %}

ranked as (

    select
        candidates.*,
        {%- if prefilter %}
        1 as latest_rank
        {%- else %}
        row_number() over (
            partition by {{ key_name if key_name else key_columns | join(', ') }}
            order by {{ order_by }}
        ) as latest_rank
        {%- endif %}
    from candidates

)
{%- endmacro %}

{#- A table written outside dlt (the dedup step's outputs) selected with typed columns: `columns` maps
    each column to its type (kore_cast_as); a column the table lacks is a typed null. -#}
{% macro kore_typed_select(relation, columns) -%}
{%- set available = kore_relation_columns(relation) -%}
select
    {%- for column, data_type in columns.items() %}
    {{ kore_raw_column(available, column, data_type) }} as {{ column }}{{ ',' if not loop.last }}
    {%- endfor %}
from {{ relation }}
{%- endmacro %}

{#- A staged row's row_hash: the landing's (raw `_row_hash`, carried as landed_row_hash by
    kore_staged_latest), else md5 over the typed columns (a raw table without one). Both engines
    evaluate the md5 only where the landed hash is null. -#}
{% macro kore_staged_row_hash(columns) -%}
    coalesce(landed_row_hash, {{ kore_row_hash(columns) }})
{%- endmacro %}
