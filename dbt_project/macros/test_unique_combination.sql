{#- Generic test: no two rows share the combination of `columns` (nulls compare equal, as a business
    key's optional part such as return_datetime must). Written here because dbt packages (dbt_utils)
    are not used: models and tests must work on DuckDB and SQL Server alike. -#}
{% test kore_unique_combination(model, columns) %}

select
    {{ columns | join(', ') }},
    count(*) as duplicate_rows
from {{ model }}
group by {{ columns | join(', ') }}
having count(*) > 1

{% endtest %}
