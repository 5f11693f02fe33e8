import gzip

import pytest
import zipcodes

from crm.geography.missouri import BOOTHEEL_FIPS, MISSOURI_COUNTIES, ST_LOUIS_FIPS
from crm.geography.zip_lookup import (
    ZIP_TABLE,
    ZipPlace,
    county_fips_for,
    lookup_zip,
    normalise_zip,
    state_name,
)


def test_table_lists_114_counties_and_st_louis_city() -> None:
    assert len(MISSOURI_COUNTIES) == 115
    assert all(len(f) == 5 and f.isdigit() and f.startswith("29") for f in MISSOURI_COUNTIES)
    assert len(set(MISSOURI_COUNTIES.values())) == 115
    assert sum(name.endswith(" County") for name in MISSOURI_COUNTIES.values()) == 114
    assert MISSOURI_COUNTIES["29510"] == "St. Louis City"


def test_region_sets() -> None:
    assert {MISSOURI_COUNTIES[f] for f in BOOTHEEL_FIPS} == {
        "Dunklin County",
        "Mississippi County",
        "New Madrid County",
        "Pemiscot County",
        "Scott County",
        "Stoddard County",
    }
    assert {MISSOURI_COUNTIES[f] for f in ST_LOUIS_FIPS} == {
        "St. Louis City",
        "St. Louis County",
    }


@pytest.mark.parametrize(("fips", "name"), sorted(MISSOURI_COUNTIES.items()))
def test_canonical_name_round_trips(fips: str, name: str) -> None:
    # Also proves the normaliser never folds two counties onto one key.
    assert county_fips_for("MO", name) == fips


@pytest.mark.parametrize(
    ("state", "name", "fips"),
    [
        ("MO", "Saint Louis City", "29510"),
        ("MO", "St. Louis city", "29510"),
        ("mo", "ST LOUIS CITY", "29510"),
        ("MO", "City of St. Louis", "29510"),
        ("MO", "St Louis County", "29189"),
        ("MO", "Saint Louis County", "29189"),
        ("MO", "st. louis", "29189"),
        ("Missouri", "Saint Louis", "29189"),
        ("MO", "Ste. Genevieve County", "29186"),
        ("MO", "Sainte Genevieve", "29186"),
        ("MO", "Ste Genevieve", "29186"),
        ("MO", "St. Genevieve", "29186"),
        ("MO", "St Francois County", "29187"),
        ("MO", "Saint Charles", "29183"),
        ("MO", "Dekalb County", "29063"),
        ("MO", "De Kalb", "29063"),
        ("MO", "Mc Donald County", "29119"),
        ("MO", "  new   madrid  ", "29143"),
        ("MO", "Dunklin", "29069"),
        ("MO", "Atlantis County", None),
        ("MO", "", None),
        ("IL", "St. Clair County", None),
        ("MN", "St. Louis County", None),
    ],
)
def test_county_fips_for_spellings(state: str, name: str, fips: str | None) -> None:
    assert county_fips_for(state, name) == fips


def test_every_missouri_zip_in_the_package_maps_to_a_known_county() -> None:
    records = zipcodes.filter_by(state="MO")
    assert len(records) > 1000
    unmapped, no_county, seen = [], [], set()
    for record in records:
        if not record["county"]:
            no_county.append(record["zip_code"])
            continue
        fips = county_fips_for("MO", record["county"])
        if fips is None:
            unmapped.append((record["zip_code"], record["county"]))
            continue
        seen.add(fips)
        place = lookup_zip(record["zip_code"])
        assert place is not None
        assert place.county_fips == fips
        assert place.county_name == MISSOURI_COUNTIES[fips]
    assert unmapped == []
    assert len(no_county) < 5  # 3.0.0 has one: 64162, a Kansas City unique ZIP
    assert seen == set(MISSOURI_COUNTIES)  # every county has at least one ZIP


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("63857", "63857"),
        (" 63857\n", "63857"),
        ("63857-1234", "63857"),
        ("638571234", "63857"),
        ("\t63857-1234 ", "63857"),
        ("00601", "00601"),
        ("", None),
        ("   ", None),
        ("6385", None),
        ("638577", None),
        ("63857-12", None),
        ("63857-12345", None),
        ("63857 1234", "63857"),
        ("63857 - 1234", None),
        ("63857  1234", None),
        ("63857 12", None),
        ("6385 71234", None),
        ("6385a", None),
        ("ZIP 63857", None),
        ("６３８５７", None),  # full-width digits are not a ZIP
    ],
)
def test_normalise_zip(raw: str, expected: str | None) -> None:
    assert normalise_zip(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        # The six Bootheel counties
        ("63857", ZipPlace("63857", "Kennett", "MO", "Dunklin County", "29069")),
        ("63834", ZipPlace("63834", "Charleston", "MO", "Mississippi County", "29133")),
        ("63869", ZipPlace("63869", "New Madrid", "MO", "New Madrid County", "29143")),
        (
            "63830",
            ZipPlace("63830", "Caruthersville", "MO", "Pemiscot County", "29155"),
        ),
        ("63801", ZipPlace("63801", "Sikeston", "MO", "Scott County", "29201")),
        ("63841", ZipPlace("63841", "Dexter", "MO", "Stoddard County", "29207")),
        # St. Louis: the package spells these "St. Louis city", "St. Louis City",
        # "St. Louis County" and "St Louis County"
        ("63103", ZipPlace("63103", "Saint Louis", "MO", "St. Louis City", "29510")),
        ("63180", ZipPlace("63180", "Saint Louis", "MO", "St. Louis City", "29510")),
        ("63105", ZipPlace("63105", "Saint Louis", "MO", "St. Louis County", "29189")),
        ("63145", ZipPlace("63145", "Saint Louis", "MO", "St. Louis County", "29189")),
        # Elsewhere in Missouri
        ("64106", ZipPlace("64106", "Kansas City", "MO", "Jackson County", "29095")),
        (
            "63670",
            ZipPlace("63670", "Sainte Genevieve", "MO", "Ste. Genevieve County", "29186"),
        ),
        (
            "63464",
            ZipPlace("63464", "Plevna", "MO", "Knox County", "29103"),
        ),  # inactive ZIP
        (
            "64162",
            ZipPlace("64162", "Kansas City", "MO", None, None),
        ),  # package has no county
        # Other states keep the package's county name but get no FIPS
        (
            "62201",
            ZipPlace("62201", "East Saint Louis", "IL", "St. Clair County", None),
        ),
        ("90210", ZipPlace("90210", "Beverly Hills", "CA", "Los Angeles County", None)),
        # ZIP+4
        ("63857-1234", ZipPlace("63857", "Kennett", "MO", "Dunklin County", "29069")),
        (
            "631031234",
            ZipPlace("63103", "Saint Louis", "MO", "St. Louis City", "29510"),
        ),
        # Malformed and unknown
        ("6385", None),
        ("hello", None),
        ("", None),
        ("00000", None),
        ("99999", None),
    ],
)
def test_lookup_zip(raw: str, expected: ZipPlace | None) -> None:
    assert lookup_zip(raw) == expected


def test_lookup_is_cached_across_spellings() -> None:
    assert lookup_zip("63857") is lookup_zip(" 63857-0001 ")


@pytest.mark.parametrize(
    ("code", "name"),
    [("IL", "Illinois"), ("mo", "Missouri"), ("PR", "Puerto Rico"), ("XX", "XX")],
)
def test_state_name(code: str, name: str) -> None:
    assert state_name(code) == name


def test_the_table_and_the_package_agree_on_every_zip() -> None:
    """crm/geography/zip_places.tsv.gz is the package's data, one line per ZIP: rebuild it with
    `python -m crm.geography.build_zip_places` when the package is upgraded."""
    from crm.geography.build_zip_places import table_lines

    with gzip.open(ZIP_TABLE, "rt", encoding="utf-8") as table:
        assert table.read().splitlines() == table_lines()


@pytest.mark.parametrize("zip5", ["00501", "00000", "63857", "99950", "99999", "12"])
def test_lookup_at_the_table_edges_is_the_packages(zip5: str) -> None:
    records = zipcodes.matching(zip5) if len(zip5) == 5 else []
    place = lookup_zip(zip5)
    if not records:
        assert place is None
    else:
        assert (place.zip5, place.city, place.state) == (
            records[0]["zip_code"],
            records[0]["city"],
            records[0]["state"],
        )
