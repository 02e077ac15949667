{#- A generic test: no two rows share these columns (the table's grain). Written here rather than
    taken from dbt_utils, so the project has no package to download. -#}
{% test unique_combination(model, columns) %}
select {{ columns | join(', ') }}, count(*) as rows_with_this_key
from {{ model }}
group by {{ columns | join(', ') }}
having count(*) > 1
{% endtest %}
