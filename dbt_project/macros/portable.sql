{#- SQL whose meaning differs between adapters lives here, so the models build on DuckDB and
    PostgreSQL alike (docs/operations.md). Where one spelling cannot serve both, dispatch on the
    adapter: adapter.dispatch('name', 'citycheck') with default__ and <adapter>__ variants.
    Portable spellings used in the models: `text` and `double precision` (not varchar/double),
    `with recursive`, `is distinct from`. -#}

{#- round(x, n) on a double, the way a person rounds the decimal figure: half away from zero
    on the value taken to 10 decimal places. Rounding the binary double directly (DuckDB's
    round) turns 83.87095, stored as 83.870949999..., into 83.8709; PostgreSQL cannot round a
    double at all. Both adapters go through decimal(38, 10), so they agree to the last digit
    (tests/test_postgres_warehouse.py compares every published value). -#}
{% macro round_to(expression, digits) -%}
    cast(round(cast({{ expression }} as decimal(38, 10)), {{ digits }}) as double precision)
{%- endmacro %}

{#- When the build that wrote a row started (dbt's run_started_at, UTC), as a timestamp. The
    incremental models stamp each row they (re)write with it: a later model takes in the rows
    of its input stamped after its own newest row, so a build killed between two models is
    caught up by the next one. -#}
{% macro built_at() -%}
    cast('{{ run_started_at.strftime("%Y-%m-%d %H:%M:%S.%f") }}' as timestamp)
{%- endmacro %}

{#- The newest built_at of an incremental model's own rows (the start of time when empty). -#}
{% macro last_built_at(relation) -%}
    (select coalesce(max(built_at), cast('1900-01-01' as timestamp)) from {{ relation }})
{%- endmacro %}

{#- The pre-hook of a model incremental by (city_code, year), the partition of index scores
    and rankings, rendered when the model runs: the city-years whose values were rewritten
    since this model's newest row go to the temp table `touched` and this model's rows of
    them are deleted; the model then selects only those city-years. fct_indicator_values
    rows carry built_at and a value never leaves that table, so a city-year that lost every
    score is found and emptied too (delete+insert on the new rows alone would keep its old
    rows). A no-op on a full build. -#}
{% macro city_years_touched(touched, base_years=false) -%}
    {%- if is_incremental() -%}
    drop table if exists {{ touched }};
    create temp table {{ touched }} as
        select distinct city_code, year from {{ ref('fct_indicator_values') }}
        where built_at > {{ citycheck.last_built_at(this) }};
    {%- if base_years %}
    {#- scores against the base year's goalposts (int_index_goalposts): a city touched in or
        before an indicator's base year may have new goalposts, so all its years are -#}
    insert into {{ touched }}
        select distinct f.city_code, f.year from {{ ref('fct_indicator_values') }} as f
        where exists (select 1 from {{ touched }} as t
                      inner join {{ ref('int_index_goalposts') }} as g
                          on g.city_code = t.city_code and t.year <= g.base_year
                      where t.city_code = f.city_code)
            and not exists (select 1 from {{ touched }} as t
                            where t.city_code = f.city_code and t.year = f.year);
    {%- endif %}
    {{ citycheck.empty_city_years(touched) }}
    {%- else -%}
    select 1
    {%- endif -%}
{%- endmacro %}

{#- Delete this model's rows of the city-years in the temp table `touched`. -#}
{% macro empty_city_years(touched) -%}
    delete from {{ this }} as m
        where exists (select 1 from {{ touched }} as t
                      where t.city_code = m.city_code and t.year = m.year)
{%- endmacro %}

{#- The pre-hook of mart_round_values, incremental by (city_code, year): a round's values
    change when a value is rewritten (fct_indicator_values.built_at), when a round is first
    owed (int_values_expected.built_at), when a round's deadline or closing changes
    (int_rounds, compared with what this table holds) and when a held value's review moves
    (mart_review_queue, compared both ways: an item that left the queue, confirmed or
    superseded, counts too). Those city-years go to the temp table `touched` and are deleted
    here; the model selects only them. The comparisons by content need no clock: a round
    event or review step recorded while a build ran is caught by the next build. -#}
{% macro round_values_touched(touched) -%}
    {%- if is_incremental() -%}
    drop table if exists {{ touched }};
    create temp table {{ touched }} as
        with queue as (     -- the open review items of values a round owes
            select q.city_code, q.year, q.district_code, q.indicator_code, q.review_item_id,
                q.review_state, q.last_review_id,
                coalesce(q.last_review_reason, q.held_because) as review_reason, q.value
            from {{ ref('mart_review_queue') }} as q
            where exists (select 1 from {{ ref('int_values_expected') }} as e
                          where e.district_code = q.district_code
                              and e.indicator_code = q.indicator_code and e.year = q.year)
        ),

        shown as (          -- the review items this table shows
            select city_code, year, district_code, indicator_code, review_item_id,
                value_state, last_review_id, review_reason, pending_value
            from {{ this }} where review_item_id is not null
        )

        select city_code, year from {{ ref('fct_indicator_values') }}
        where built_at > {{ citycheck.last_built_at(this) }}
        union
        select city_code, year from {{ ref('int_values_expected') }}
        where built_at > {{ citycheck.last_built_at(this) }}
        union
        select city_code, year from (
            select programme_code, city_code, year, due_on, last_event = 'closed'
            from {{ ref('int_rounds') }}
            except
            select distinct programme_code, city_code, year, due_on, round_closed
            from {{ this }}
        ) as rounds_changed
        union
        select city_code, year from (
            (select * from queue except select * from shown)
            union all
            (select * from shown except select * from queue)
        ) as reviews_changed;
    {{ citycheck.empty_city_years(touched) }}
    {%- else -%}
    select 1
    {%- endif -%}
{%- endmacro %}

{#- The score of a value on a target_band indicator (int_indicator_scores): 100 inside
    [band_low, band_high]; outside, 100 x (1 - its distance from the band / the band's
    width), not below 0. -#}
{% macro band_score(value) -%}
    100 * greatest(1 - greatest(band_low - {{ value }}, {{ value }} - band_high, 0)
                   / nullif(band_high - band_low, 0), 0)
{%- endmacro %}

{#- Rank within a city and year, 1 = the highest score (rounded to one decimal, as
    published), ties share a rank; no score, no rank. -#}
{% macro rank_in_city(score) -%}
    case when {{ score }} is not null then rank() over (
        partition by city_code, year
        order by {{ citycheck.round_to(score, 1) }} desc nulls last) end
{%- endmacro %}
