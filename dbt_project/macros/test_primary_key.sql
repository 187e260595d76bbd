{#- Generic test: `columns` are the model's primary key -- never null, and no two rows share them --
    checked in one scan of the model (dbt's unique + not_null would scan it twice, and a view is
    computed once per scan). `invalid_when` optionally names more rows that fail (a condition on the
    same row), so a view's whole well-formedness check stays one scan.

    This is the primary-key test of models whose key is not a single column or which are expensive
    views; dbt-project-evaluator is told so in dbt_project.yml (vars: primary_key_test_macros). -#}
{% test kore_primary_key(model, columns, invalid_when=none) %}

select
    {{ columns | join(', ') }},
    {%- if invalid_when %}
    sum(case when {{ invalid_when }} then 1 else 0 end) as invalid_rows,
    {%- endif %}
    count(*) as copies
from {{ model }}
group by {{ columns | join(', ') }}
having
    count(*) > 1
    {%- for column in columns %}
    or {{ column }} is null
    {%- endfor %}
    {%- if invalid_when %}
    or sum(case when {{ invalid_when }} then 1 else 0 end) > 0
    {%- endif %}

{% endtest %}
