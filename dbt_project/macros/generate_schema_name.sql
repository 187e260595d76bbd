{#- Use the folder's schema name as is (stg, kore, marts, ...) instead of prefixing the target schema:
    the KORE tables live in fixed, documented schemas on both engines (production, and `kore` runs).
    KORE_SCHEMA_PREFIX (kore/config.py validates it; plain dbt reads the variable) gives an analyst
    their own copy of every schema dbt builds on a shared server: prefix "dev_alice" builds
    dev_alice_stg, dev_alice_kore, ... Sources (raw_*, kore_dedup, ops) are not built by dbt and are
    read where they are. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- set base = target.schema if custom_schema_name is none else custom_schema_name | trim -%}
    {%- set prefix = env_var('KORE_SCHEMA_PREFIX', '') | trim | lower -%}
    {%- if prefix -%}{{ prefix }}_{{ base }}{%- else -%}{{ base }}{%- endif -%}
{%- endmacro %}
