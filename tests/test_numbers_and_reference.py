"""How departments write numbers, years and names, and what citycheck makes of them."""
import pytest

from common.config import parse_years
from common.reference import load_reference
from extract.numbers import parse_number, parse_year


@pytest.mark.parametrize("raw, value, estimate", [
    ("1,234.5", 1234.5, False), ("１２３", 123.0, False), ("12.5%", 12.5, False),
    ("约30", 30.0, True), (" 42 ", 42.0, False), (7, 7.0, False), (3.25, 3.25, False),
    ("-3.5", -3.5, False), ("１，０００．５", 1000.5, False),
])
def test_numbers_as_written(raw, value, estimate):
    parsed = parse_number(raw)
    assert (parsed.value, parsed.is_estimate, parsed.error) == (value, estimate, None)


@pytest.mark.parametrize("raw", ["", None, "—", "-", "/", "无", "——", "－", "N/A"])
def test_missing_is_missing_never_zero(raw):
    parsed = parse_number(raw)
    assert parsed.is_missing and parsed.value is None and parsed.error is None


@pytest.mark.parametrize("raw", ["九十八", "12..5", "abc", "1 2 3 x", True])
def test_not_a_number_says_so(raw):
    assert parse_number(raw).error


@pytest.mark.parametrize("raw, year", [("2023", 2023), ("2023年", 2023), ("２０２３年", 2023),
                                       (2021, 2021), (2021.0, 2021), ("2023年度", 2023),
                                       ("23", None), ("二〇二三", None), (1800, None)])
def test_years(raw, year):
    assert parse_year(raw) == year


def test_year_ranges():
    assert parse_years("2019-2021") == [2019, 2020, 2021]
    assert parse_years("2020,2022") == [2020, 2022]
    assert parse_years("") is None
    with pytest.raises(ValueError, match="is not a year"):
        parse_years("last year")


@pytest.mark.parametrize("text, code", [
    ("环翠区", "371002"), ("环翠", "371002"), ("威海市环翠区", "371002"), ("山东省威海市环翠区", "371002"),
    (" 环 翠 区 ", "371002"), ("371002", "371002"), ("高区", "371071"), ("火炬高技术产业开发区", "371071"),
    ("高技术产业开发区", "371071"), ("经区", "371072"), ("临港区", "371073"), ("威海市", "371000"),
    ("荣成", "371082"),
])
def test_district_names_and_aliases(text, code):
    assert load_reference().resolve_district(text, "371000", 2020).code == code


def test_district_history_picks_the_unit_valid_that_year():
    ref = load_reference()
    assert ref.resolve_district("文登", "371000", 2010).code == "371081"  # 文登市 until 2014
    assert ref.resolve_district("文登", "371000", 2020).code == "371003"  # 文登区 since
    assert "did not exist in 2010" in ref.resolve_district("文登区", "371000", 2010).reason


def test_unknown_names_quote_the_value_and_suggest():
    ref = load_reference()
    res = ref.resolve_district("环翠县", "371000", 2020)
    assert res.code is None and "'环翠县'" in res.reason and "环翠区" in res.reason
    # Aliases are per city: 张店 is in Zibo, not in Weihai.
    assert ref.resolve_district("张店", "371000", 2020).code is None
    assert ref.resolve_district("张店", "370300", 2020).code == "370303"
    res = ref.resolve_indicator("污水处理率")
    assert res.code is None and "sewage_treatment_rate_pct" in res.reason


def test_reference_data_is_consistent():
    ref = load_reference()
    for ind in ref.indicators.values():
        assert ind.department_code in ref.departments, ind.code
        assert ind.valid_min is None or ind.valid_max is None or ind.valid_min < ind.valid_max
    for d in ref.districts.values():
        assert d.city_code in ref.cities
