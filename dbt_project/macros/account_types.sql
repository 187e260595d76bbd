{#- Archtics Account Types (acct_type_desc) a client keeps out of the CRM: var excluded_account_types,
    a comma-separated list (KORE_EXCLUDED_ACCOUNT_TYPES), compared case-insensitively. -#}
{% macro kore_excluded_account_types() -%}
    {%- set excluded = [] -%}
    {%- for t in (var('excluded_account_types', '') or '').split(',') -%}
        {%- if t | trim -%}{%- do excluded.append(t | trim | lower | replace("'", "''")) -%}{%- endif -%}
    {%- endfor -%}
    {{ return(excluded) }}
{%- endmacro %}

{#- 1 when the account type is excluded, else 0 (an int: SQL Server has no boolean in select lists). -#}
{% macro kore_is_excluded_account_type(expr) -%}
    {%- set excluded = kore_excluded_account_types() -%}
    {%- if excluded -%}
        case when lower(trim({{ expr }})) in ('{{ excluded | join("', '") }}') then 1 else 0 end
    {%- else -%}
        0
    {%- endif -%}
{%- endmacro %}
