"""The company's working days: the country's production calendar, with its moved working days, and the company's
own dates. Pure: the dates from files arrive already read (router/core/calendarfile.py).

The country's calendar comes from the `holidays` library (kept current every month, with the days off moved by
decree and the Saturdays worked instead, as `weekend_workdays`: Russia's 1 November 2025, say). A day is, in
company time:
- a holiday: a public holiday or day off of the country, or one of the company's `holidays`, unless the company
  lists it among its `workdays`;
- a workday: not a holiday, and either not a weekend day or a moved working day (the country's or the
  company's `workdays`).

Every year from FIRST_YEAR to LAST_YEAR is computed when the rules are compiled (off the event loop), so that a
call never waits for the library to build a year (about 60 ms the first time); a date outside them is computed
on its first call.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Literal

import holidays
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
Day = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
FIRST_YEAR, LAST_YEAR = 2000, 2050
DateKind = Literal["holiday", "workday"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CalendarDate(Strict):
    """One of the company's own dates: a day off (`holiday`) or a working day on a weekend (`workday`)."""

    date: date
    name: str = Field("", max_length=120)
    kind: DateKind = "holiday"


def _as_date(value: object) -> object:
    return {"date": value} if isinstance(value, date | str) else value


class CalendarSettings(Strict):
    """`calendar:` — the production calendar of `country` (two letters, `subdivision` for a region's own days)
    with the company's own `holidays` and `workdays`, and `files` of more dates (CSV, YAML or iCal)."""

    country: str | None = Field(None, pattern=r"^[A-Z]{2}$")
    subdivision: str | None = Field(None, max_length=10)
    weekend: list[Day] | None = None
    """Weekend days; default the country's (Saturday and Sunday without a country)."""
    holidays: list[CalendarDate] = []
    workdays: list[CalendarDate] = []
    files: list[str] = []
    """Files of dates, relative to the rule path's folder: `.csv` (date,name,kind), `.yaml` (holidays:,
    workdays:) or `.ics` (all-day events; CATEGORIES workday for a working day)."""

    @field_validator("holidays", "workdays", mode="before")
    @classmethod
    def _plain_dates(cls, v: object) -> object:
        return [_as_date(x) for x in v] if isinstance(v, list) else v

    @field_validator("workdays")
    @classmethod
    def _working(cls, v: list[CalendarDate]) -> list[CalendarDate]:
        return [d.model_copy(update={"kind": "workday"}) for d in v]

    @field_validator("country")
    @classmethod
    def _known_country(cls, v: str | None) -> str | None:
        if v is not None and v not in holidays.list_supported_countries():
            raise ValueError(f"no production calendar for country {v!r} in the holidays library (two capital "
                             "letters, ISO 3166: RU, KZ, BY, US…)")
        return v

    @model_validator(mode="after")
    def _known_subdivision(self) -> CalendarSettings:
        if self.subdivision is None:
            return self
        if self.country is None:
            raise ValueError("a subdivision needs its country")
        subdivisions = holidays.list_supported_countries()[self.country]
        if self.subdivision not in subdivisions:
            raise ValueError(f"{self.country} has no subdivision {self.subdivision!r} (known: "
                             f"{', '.join(subdivisions) or 'none'})")
        return self


@dataclass(frozen=True, slots=True)
class CompanyDay:
    """What the calendar says of one day."""

    date: date
    holiday: str
    """The holiday's name ("company holiday" when it has none), or "" when the day is not one."""
    workday: bool
    moved: bool = False
    """A weekend day worked instead of a day off (the country's decree, or the company's `workdays`)."""

    def describe(self) -> str:
        day = f"{DAYS[self.date.weekday()]} {self.date.isoformat()}"
        if self.holiday:
            return f"{day} is a holiday ({self.holiday})"
        if self.workday:
            return f"{day} is a working day" + (" (moved from a day off)" if self.moved else "")
        return f"{day} is a weekend day"


class CompanyCalendar:
    """Days of the company, looked up at ring time from what was computed at compile time."""

    def __init__(self, settings: CalendarSettings | None):
        settings = settings or CalendarSettings()
        self.settings = settings
        self._country: holidays.HolidayBase | None = None
        weekend = {DAYS.index(d) for d in settings.weekend} if settings.weekend is not None else None
        if settings.country is not None:
            self._country = holidays.country_holidays(settings.country, subdiv=settings.subdivision,
                                                      years=range(FIRST_YEAR, LAST_YEAR + 1))
            weekend = weekend if weekend is not None else set(self._country.weekend)
        self.weekend = frozenset(weekend if weekend is not None else {5, 6})
        self.own: dict[date, CalendarDate] = {d.date: d for d in [*settings.holidays, *settings.workdays]}
        self._days: dict[date, CompanyDay] = {}

    def day(self, d: date) -> CompanyDay:
        found = self._days.get(d)
        if found is None:
            if len(self._days) > 4096:
                self._days.clear()
            found = self._days[d] = self._compute(d)
        return found

    def _compute(self, d: date) -> CompanyDay:
        weekend = d.weekday() in self.weekend
        own = self.own.get(d)
        if own is not None:
            if own.kind == "workday":
                return CompanyDay(d, "", True, moved=weekend)
            return CompanyDay(d, own.name or "company holiday", False)
        if self._country is not None:
            name = self._country.get(d)
            if name:
                return CompanyDay(d, str(name), False)
            if weekend and d in self._country.weekend_workdays:
                return CompanyDay(d, "", True, moved=True)
        return CompanyDay(d, "", not weekend)
