{#- External key of a KORE-owned record: 'KORE-<ENTITY>-<app id>' (e.g. KORE-DEALSHEET-42), the stable
    upsert key the CRM push matches on. Foreign keys use the same macro on the parent's id, so a
    child's <parent>_key equals the parent's external_key. A null id gives a null key (SQL Server's
    concat() would otherwise turn null into '' and produce 'KORE-X-'). -#}
{% macro kore_app_key(entity, column) -%}
    case
        when {{ column }} is not null
            then {{ dbt.concat(["'KORE-" ~ (entity | upper) ~ "-'", kore_to_string(column)]) }}
    end
{%- endmacro %}
