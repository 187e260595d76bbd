{#- Use the folder's schema name as is (stg, kore, marts, ...) instead of prefixing the target schema:
    the KORE tables live in fixed, documented schemas on both engines. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}{{ target.schema }}{%- else -%}{{ custom_schema_name | trim }}{%- endif -%}
{%- endmacro %}
