{#- First and last day of a year given as an integer column; portable across adapters. -#}
{% macro year_start(year_column) -%}
    cast(cast({{ year_column }} as varchar) || '-01-01' as date)
{%- endmacro %}

{% macro year_end(year_column) -%}
    cast(cast({{ year_column }} as varchar) || '-12-31' as date)
{%- endmacro %}
