"""ZIP code -> place (city, state, county) lookup, from the table built from the ``zipcodes``
package (crm/geography/zip_places.tsv.gz; crm.geography.build_zip_places rebuilds it).

The package builds all its records in memory at the first question (tens of MB in every web
worker); the table is kept as one string and the offsets of its lines, and searched by bisection.
"""

import gzip
import re
from array import array
from bisect import bisect_left
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Final

from crm.geography.missouri import MISSOURI_COUNTIES

ZIP_TABLE: Final = Path(__file__).resolve().parent / "zip_places.tsv.gz"

# The four digits of a ZIP+4 may follow a hyphen, nothing, or a space (as it is often
# written); one character at most, so that a ZIP as typed still fits the 10 characters stored.
_ZIP_RE: Final = re.compile(r"([0-9]{5})(?:[- ]?[0-9]{4})?")

STATE_NAMES: Final[dict[str, str]] = {
    "AL": "Alabama", "AK": "Alaska", "AZ": "Arizona", "AR": "Arkansas",
    "CA": "California", "CO": "Colorado", "CT": "Connecticut", "DE": "Delaware",
    "DC": "the District of Columbia", "FL": "Florida", "GA": "Georgia", "HI": "Hawaii",
    "ID": "Idaho", "IL": "Illinois", "IN": "Indiana", "IA": "Iowa", "KS": "Kansas",
    "KY": "Kentucky", "LA": "Louisiana", "ME": "Maine", "MD": "Maryland",
    "MA": "Massachusetts", "MI": "Michigan", "MN": "Minnesota", "MS": "Mississippi",
    "MO": "Missouri", "MT": "Montana", "NE": "Nebraska", "NV": "Nevada",
    "NH": "New Hampshire", "NJ": "New Jersey", "NM": "New Mexico", "NY": "New York",
    "NC": "North Carolina", "ND": "North Dakota", "OH": "Ohio", "OK": "Oklahoma",
    "OR": "Oregon", "PA": "Pennsylvania", "RI": "Rhode Island", "SC": "South Carolina",
    "SD": "South Dakota", "TN": "Tennessee", "TX": "Texas", "UT": "Utah",
    "VT": "Vermont", "VA": "Virginia", "WA": "Washington", "WV": "West Virginia",
    "WI": "Wisconsin", "WY": "Wyoming",
    "AS": "American Samoa", "GU": "Guam", "MP": "the Northern Mariana Islands",
    "PR": "Puerto Rico", "VI": "the U.S. Virgin Islands",
    "FM": "Micronesia", "MH": "the Marshall Islands", "PW": "Palau",
    "AA": "Armed Forces Americas", "AE": "Armed Forces Europe",
    "AP": "Armed Forces Pacific",
}  # fmt: skip


@dataclass(frozen=True)
class ZipPlace:
    zip5: str
    city: str
    state: str  # USPS two-letter code, e.g. "MO"
    county_name: str | None  # canonical spelling for Missouri, the package's otherwise
    county_fips: str | None  # set only for Missouri ZIPs


def normalise_zip(raw: str) -> str | None:
    """The 5-digit ZIP in "63857", "63857-1234", "63857 1234" or "638571234"; None if malformed."""
    match = _ZIP_RE.fullmatch(raw.strip()) if raw else None
    return match.group(1) if match else None


def state_name(code: str) -> str:
    return STATE_NAMES.get(code.upper(), code)


def _county_key(name: str) -> str:
    # The package spells one county several ways ("St. Louis city", "St. Louis City",
    # "St Louis County", "Dekalb"/"DeKalb"); users add "Saint"/"Sainte". Fold them all
    # to one key. Mapping both St and Ste to "st" is safe: no two Missouri counties
    # differ only by that (a test checks every key is unique).
    tokens = re.sub(r"[.'’]", " ", name).casefold().split()
    if tokens[:2] == ["city", "of"]:  # "City of St. Louis"
        tokens = [*tokens[2:], "city"]
    if tokens and tokens[-1] == "county":
        tokens.pop()
    return "".join("st" if t in {"saint", "sainte", "ste"} else t for t in tokens)


# A bare "St. Louis" folds to the county, because the city is always qualified.
_MISSOURI_FIPS_BY_KEY: Final = {_county_key(name): fips for fips, name in MISSOURI_COUNTIES.items()}


def county_fips_for(state: str, county_name: str) -> str | None:
    """FIPS for a Missouri county name in any common spelling, else None.

    Only Missouri is indexed: any other state gives None.
    """
    if state.strip().upper() not in {"MO", "MISSOURI"}:
        return None
    return _MISSOURI_FIPS_BY_KEY.get(_county_key(county_name))


def lookup_zip(zip5: str) -> ZipPlace | None:
    """Place for a ZIP (ZIP+4 accepted); None when malformed or not a known ZIP."""
    normalised = normalise_zip(zip5)
    return _lookup(normalised) if normalised else None


class _ZipTable:
    """The table's text, one ZIP per line in ZIP order, and where each line starts."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.starts = array("I", [0])
        self.starts.extend(match.end() for match in re.finditer("\n", text))
        self.starts.pop()  # the end of the last line starts nothing

    def record(self, zip5: str) -> list[str] | None:
        """[zip, city, state, county] for this ZIP, or None."""
        text = self.text
        index = bisect_left(self.starts, zip5, key=lambda start: text[start : start + 5])
        if index == len(self.starts) or text[self.starts[index] : self.starts[index] + 5] != zip5:
            return None
        start = self.starts[index]
        return text[start : text.index("\n", start)].split("\t")


@lru_cache(maxsize=1)
def _table() -> _ZipTable:
    with gzip.open(ZIP_TABLE, "rt", encoding="utf-8") as table:
        return _ZipTable(table.read())


# Forms and imports ask about the same few ZIPs over and over.
@lru_cache(maxsize=4096)
def _lookup(zip5: str) -> ZipPlace | None:
    # Inactive (decommissioned) ZIPs are kept on purpose: people go on writing the
    # ZIP they always had, and it still says where they live, which is all routing
    # needs. Rejecting them would only push those inquiries to the fallback.
    record = _table().record(zip5)
    if record is None:
        return None
    zip_code, city, state, county = record
    county_name: str | None = county or None
    county_fips = county_fips_for(state, county_name) if county_name else None
    if county_fips:
        county_name = MISSOURI_COUNTIES[county_fips]
    return ZipPlace(
        zip5=zip_code,
        city=city,
        state=state,
        county_name=county_name,
        county_fips=county_fips,
    )
