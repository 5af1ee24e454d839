"""The rule file's `wallboard:` section: how the wall's figures are counted and when each turns amber or red.
Pure.

```yaml
wallboard:
  queues: [support, new-connection]   # the queues shown, in this order (default: every queue Asterisk reports)
  colours:                       # a figure past `warn` is amber, past `bad` red
    service_level: {warn: 80%, bad: 60%}    # lower is worse
    abandon_rate: {warn: 5%, bad: 10%}
    longest_wait: {warn: 60s, bad: 2m}
    waiting: {warn: 3, bad: 6}
    available: {warn: 2, bad: 1}            # lower is worse: amber with one agent free, red with none
    overdue: {warn: 1, bad: 5}              # an owner's follow-ups past their deadline
```

Shares are written `80%` or as a fraction (`0.8`); waits as durations (`60s`, `2m`); the rest as
whole numbers. "Past" is strict: a service level of exactly 80 % against `warn: 80%` is not amber.
What the figures count — the service-level threshold T, the short abandon, a queue's wrap-up — is
the report's (`report.service_level`, `report.short_abandon`, `report.queues`): the wall and the
report count alike.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from router.core.durations import parse_duration

Level = Literal["ok", "warn", "bad"]
LOWER_IS_WORSE = frozenset({"service_level", "available"})


def parse_share(value: Any) -> float:
    """`80%` or `0.8` -> 0.8; refused outside 0..100 %."""
    if isinstance(value, str) and value.strip().endswith("%"):
        try:
            share = float(value.strip()[:-1]) / 100
        except ValueError:
            share = -1.0
    elif isinstance(value, int | float) and not isinstance(value, bool):
        share = float(value)
    else:
        share = -1.0
    if not 0 <= share <= 1:
        raise ValueError(f"bad share {value!r}: write a percentage like 80% (or a fraction like 0.8)")
    return share


def _seconds(value: Any) -> int:
    """A duration (`60s`, `2m`), or `0` for none; any other bare number is refused, as everywhere."""
    return 0 if value in (0, "0", "0s") and not isinstance(value, bool) else parse_duration(value)


Share = Annotated[float, BeforeValidator(parse_share)]
Wait = Annotated[int, BeforeValidator(_seconds)]
Count = Annotated[int, Field(ge=0, le=100_000)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Band(_Section):
    _lower: ClassVar[bool] = False

    @model_validator(mode="after")
    def _ordered(self) -> _Band:
        warn, bad = getattr(self, "warn"), getattr(self, "bad")  # noqa: B009 - the subclasses' typed fields
        lower = self._lower
        if (bad > warn) if lower else (bad < warn):
            raise ValueError(f"bad ({bad}) must be {'below' if lower else 'above'} warn ({warn}): red is the worse "
                             "of the two")
        return self


class ShareBand(_Band):
    warn: Share
    bad: Share


class LowShareBand(ShareBand):
    _lower: ClassVar[bool] = True


class WaitBand(_Band):
    warn: Wait
    bad: Wait


class CountBand(_Band):
    warn: Count
    bad: Count


class LowCountBand(CountBand):
    _lower: ClassVar[bool] = True


class Colours(_Section):
    service_level: LowShareBand = LowShareBand(warn=0.8, bad=0.6)
    abandon_rate: ShareBand = ShareBand(warn=0.05, bad=0.1)
    longest_wait: WaitBand = WaitBand.model_validate({"warn": "60s", "bad": "2m"})
    waiting: CountBand = CountBand(warn=3, bad=6)
    available: LowCountBand = LowCountBand(warn=2, bad=1)
    overdue: CountBand = CountBand(warn=1, bad=5)


MAX_QUEUES = 8
"""Queue cards a 1920×1080 screen shows in type read across a room."""


class WallboardSettings(_Section):
    queues: list[Annotated[str, Field(min_length=1, max_length=80)]] = Field([], max_length=MAX_QUEUES)
    colours: Colours = Colours()

    @field_validator("queues")
    @classmethod
    def _once_each(cls, v: list[str]) -> list[str]:
        twice = sorted({q for q in v if v.count(q) > 1})
        if twice:
            raise ValueError(f"{', '.join(twice)} named more than once")
        return v


def level(figure: str, value: float | None, band: _Band) -> Level:
    """How a figure looks against its band: `ok`, `warn` (amber) or `bad` (red); no value is `ok`."""
    if value is None:
        return "ok"
    warn, bad = getattr(band, "warn"), getattr(band, "bad")  # noqa: B009
    if figure in LOWER_IS_WORSE:
        return "bad" if value < bad else "warn" if value < warn else "ok"
    return "bad" if value > bad else "warn" if value > warn else "ok"
