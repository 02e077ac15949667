{#- A source table the sync has not created yet, read as an empty table with the columns
    `_sources.yml` declares, so the models build on any account at any time: before the first
    site insights day, the site insights tables do not exist, and the marts over them are empty
    rather than an error. Once the table exists, the next models run reads it (staging models are views).
    The empty form carries the table's name as its alias; do not alias it again.
    A missing source with no declared columns fails, naming the table and the sync to run. -#}
{% macro source_or_empty(source_name, table_name) %}
    {%- set relation = source(source_name, table_name) -%}
    {%- if execute and load_relation(relation) is none -%}
        {%- set node = graph.sources.values()
            | selectattr("source_name", "equalto", source_name)
            | selectattr("name", "equalto", table_name)
            | first -%}
        {%- set columns = node.columns.values() | list -%}
        {%- if not columns -%}
            {{ exceptions.raise_compiler_error(
                "The table " ~ relation ~ " does not exist yet: run the sync that loads "
                ~ source_name ~ "/" ~ table_name ~ " first.") }}
        {%- endif -%}
        (
            select
            {%- for column in columns %}
                cast(null as {{ column.data_type }}) as {{ adapter.quote(column.name) }}
                {{- "," if not loop.last }}
            {%- endfor %}
            where 1 = 0
        ) as {{ table_name }}
    {%- else -%}
        {{ relation }}
    {%- endif -%}
{% endmacro %}
