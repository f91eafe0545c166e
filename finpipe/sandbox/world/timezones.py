"""Where each world company keeps its office clock.

People key documents in office hours of the company's *local* time; the world stores every
instant in UTC, so wall-clock times drawn by the generator are converted here. The renderers
read the same zone: QuickBooks writes ``MetaData`` times with the zone's offset, Xero names
the zone in ``Organisation.Timezone`` (Windows-style ids, upper case, no spaces, as the
Accounting API's ``TimeZone`` enum spells them) and keeps ``...DateUTC`` fields in UTC.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

from finpipe.sandbox.world import reference as ref

# One IANA zone per country the world generates (the capital's / the largest city's zone).
COUNTRY_TIMEZONES: dict[str, str] = {
    "US": "America/Los_Angeles",
    "CA": "America/Toronto",
    "GB": "Europe/London",
    "IE": "Europe/Dublin",
    "DE": "Europe/Berlin",
    "FR": "Europe/Paris",
    "NL": "Europe/Amsterdam",
    "ES": "Europe/Madrid",
    "AU": "Australia/Sydney",
    "NZ": "Pacific/Auckland",
}
# The Xero ``TimeZone`` enum value of each of those zones (CLDR windowsZones mapping).
XERO_TIMEZONES: dict[str, str] = {
    "America/Los_Angeles": "PACIFICSTANDARDTIME",
    "America/Toronto": "EASTERNSTANDARDTIME",
    "Europe/London": "GMTSTANDARDTIME",
    "Europe/Dublin": "GMTSTANDARDTIME",
    "Europe/Berlin": "WEUROPESTANDARDTIME",
    "Europe/Amsterdam": "WEUROPESTANDARDTIME",
    "Europe/Paris": "ROMANCESTANDARDTIME",
    "Europe/Madrid": "ROMANCESTANDARDTIME",
    "Australia/Sydney": "AUSEASTERNSTANDARDTIME",
    "Pacific/Auckland": "NEWZEALANDSTANDARDTIME",
    "UTC": "UTC",
}


def zone_name(country: str | None) -> str:
    """The IANA zone of a company in ``country`` (UTC when the country is unknown)."""
    return COUNTRY_TIMEZONES.get(country or "", "UTC")


def xero_timezone(country: str | None) -> str:
    """``Organisation.Timezone`` of a company in ``country``."""
    return XERO_TIMEZONES[zone_name(country)]


def local_to_utc(wall_us: np.ndarray, countries: np.ndarray) -> np.ndarray:
    """UTC microseconds of local wall-clock times (microseconds since the epoch read as the
    local clock), each in the zone of its company's country. A wall time skipped by a
    spring-forward change is read as one hour later, as a clock that jumped would show it;
    a repeated autumn hour is read as its first occurrence."""
    wall_us = np.asarray(wall_us, dtype=np.int64)
    countries = np.asarray(countries, dtype=object)
    out = wall_us.copy()
    for country in np.unique(countries):
        sel = np.flatnonzero(countries == country)
        zone = zone_name(country)
        if zone == "UTC":
            continue
        wall = pl.Series(wall_us[sel]).cast(pl.Datetime("us"))

        def to_utc(w: pl.Series, zone: str = zone) -> pl.Series:
            return (
                w.dt.replace_time_zone(zone, ambiguous="earliest", non_existent="null")
                .dt.convert_time_zone("UTC")
                .dt.replace_time_zone(None)
                .cast(pl.Int64)
            )

        utc = to_utc(wall)
        gap = utc.is_null()
        if gap.any():
            utc = utc.zip_with(~gap, to_utc(wall + dt.timedelta(hours=1)))
        out[sel] = utc.to_numpy()
    return out


def company_countries(codes: np.ndarray) -> np.ndarray:
    """Country codes of companies, from their index in the reference country table."""
    return np.asarray(ref.COUNTRY_CODES, dtype=object)[np.asarray(codes, dtype=np.int64)]


__all__ = [
    "COUNTRY_TIMEZONES",
    "XERO_TIMEZONES",
    "company_countries",
    "local_to_utc",
    "xero_timezone",
    "zone_name",
]
