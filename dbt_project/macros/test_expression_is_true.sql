{#- Generic test: every row satisfies `expression` (written here, no dbt packages). -#}
{% test kore_expression_is_true(model, expression) %}

select *
from {{ model }}
where not ({{ expression }})

{% endtest %}
