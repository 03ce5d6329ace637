{#- First and last day of a year given as an integer column; portable across adapters. -#}
{% macro year_start(year_column) -%}
    cast(cast({{ year_column }} as text) || '-01-01' as date)
{%- endmacro %}

{% macro year_end(year_column) -%}
    cast(cast({{ year_column }} as text) || '-12-31' as date)
{%- endmacro %}

{#- The join condition "this version of the district was valid at some time in that year":
    one definition of how facts find their dim_district row. -#}
{% macro valid_in_year(district_alias, year_column) -%}
    {{ district_alias }}.valid_from <= {{ citycheck.year_end(year_column) }}
    and ({{ district_alias }}.valid_to is null
         or {{ district_alias }}.valid_to >= {{ citycheck.year_start(year_column) }})
{%- endmacro %}

{# True when a framework row (int_framework, alias `framework_alias`) covers the year. #}
{% macro in_framework(framework_alias, year_column) -%}
    {{ year_column }} >= {{ framework_alias }}.first_year
    and ({{ framework_alias }}.last_year is null or {{ year_column }} <= {{ framework_alias }}.last_year)
{%- endmacro %}
