"""Pump limits: the device configuration an administrator sets, in integer core units.

Theory of operation
-------------------
``Limits`` is what the pump itself allows, independent of any drug: its maximum rate,
KVO rate, the longest control tick it accepts, alarm timers, route caps and air limits.
It is part of the controller's state (so the proofs can show that no patient event ever
changes it) and is validated by ``LIMIT_CHECKS``, which the proofs also use to constrain
the symbolic configuration.

Rules
1. Every field is an ``int`` (or a tuple of ints indexed by ``Route``) in core units.
2. ``LIMIT_CHECKS`` is the only definition of a valid configuration (REQ-CFG-001).
3. Audio pause is capped at 2 minutes by validation: no configuration can disable an alarm
   for longer (REQ-ALM-006, decision DEC-003).
4. Every default is valid for every valid setting of the other fields: a limit that depends on
   another (the prime rate, a route cap) is capped where it is used, not refused, so lowering
   ``max_rate`` alone is always accepted (the command takes the minimum).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from enum import IntEnum
from typing import Any

from controller.core.logic import all_of
from controller.core.units import MS_PER_MIN, MS_PER_S, NL_PER_UL, RATE_PER_ML_H, VU_PER_ML, fmt_ml, fmt_ml_h
from controller.core.validation import Check, all_ok, raise_first
from controller.errors import ConfigurationError


class Route(IntEnum):
    INTRAVENOUS = 0
    SUBCUTANEOUS = 1
    EPIDURAL = 2
    ENTERAL = 3


N_ROUTES = len(Route)
ROUTE_NAMES: dict[str, Route] = {r.name.lower(): r for r in Route}

SILENCE_MAX_MS = 2 * MS_PER_MIN  # REQ-ALM-006
PUMP_MAX_RATE = 1_200 * RATE_PER_ML_H  # the mechanism's physical ceiling for any configuration
PUMP_MAX_VTBI = 9_999 * VU_PER_ML
TICK_MAX_MS = 10 * MS_PER_S
POST_TIMEOUT_MS = 70 * MS_PER_S  # REQ-FLT-001 (GIP 3.4: POST within 70 s)


@dataclass(frozen=True, slots=True)
class Limits:
    max_rate: int = 999 * RATE_PER_ML_H
    min_rate: int = RATE_PER_ML_H // 10
    max_vtbi: int = 9_999 * VU_PER_ML
    kvo_rate: int = 1 * RATE_PER_ML_H
    max_tick_ms: int = 1 * MS_PER_S
    silence_ms: int = SILENCE_MAX_MS
    callback_ms: int = 5 * MS_PER_MIN
    paused_limit_ms: int = 2 * MS_PER_MIN
    near_end_ms: int = 5 * MS_PER_MIN
    prime_rate: int = 600 * RATE_PER_ML_H
    prime_max: int = 25 * VU_PER_ML
    route_max_rate: tuple[int, ...] = field(
        default=(999 * RATE_PER_ML_H, 100 * RATE_PER_ML_H, 25 * RATE_PER_ML_H, 999 * RATE_PER_ML_H)
    )
    bubble_limit_nl: tuple[int, ...] = field(
        default=(200 * NL_PER_UL, 200 * NL_PER_UL, 100 * NL_PER_UL, 50 * NL_PER_UL)
    )
    air_accum_nl: int = 1_000 * NL_PER_UL
    air_bucket_ms: int = 3 * MS_PER_MIN  # 5 closed buckets + current => 15-18 min window
    battery_low_min: int = 15
    battery_depleted_min: int = 5
    overheat_c10: int = 550  # mechanism temperature alarm, tenths of a degree C (OPCA R6.4.0(8): 55 C)
    temp_min_c10: int = 100  # claimed operating range 10-45 C (REQ-TMP-001): a LOW alert outside it
    temp_max_c10: int = 450
    change_factor: int = 2  # a new rate this many times the last one (or less) needs a confirmation (REQ-USE-001)


LIMIT_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(Limits))


def _rng(name: str, lo: int, hi: int, show: Any = str, unit: str = "") -> Check:
    return Check(
        name,
        lambda c: all_of(lo <= getattr(c, name), getattr(c, name) <= hi),
        lambda c: f"{show(lo)} to {show(hi)}{unit}",
        lambda c: f"{show(getattr(c, name))}{unit}",
        ("REQ-CFG-001",),
    )


def _route_rng(name: str, r: Route, lo: Any, hi: Any, show: Any, unit: str) -> Check:
    """lo/hi are functions of the limits (a route cap may not exceed the pump max)."""
    return Check(
        f"{name}[{r.name.lower()}]",
        lambda c: all_of(lo(c) <= getattr(c, name)[r], getattr(c, name)[r] <= hi(c)),
        lambda c: f"{show(lo(c))} to {show(hi(c))}{unit}",
        lambda c: f"{show(getattr(c, name)[r])}{unit}",
        ("REQ-CFG-001",),
    )


def _s(ms: int) -> str:
    return f"{ms / 1000:g}"


LIMIT_CHECKS: tuple[Check, ...] = (
    _rng("max_rate", RATE_PER_ML_H, PUMP_MAX_RATE, fmt_ml_h, " mL/h"),
    _rng("min_rate", 1, RATE_PER_ML_H, fmt_ml_h, " mL/h"),
    Check("min_rate", lambda c: c.min_rate <= c.max_rate, lambda c: f"<= max_rate ({fmt_ml_h(c.max_rate)} mL/h)",
          lambda c: fmt_ml_h(c.min_rate), ("REQ-CFG-001",)),
    _rng("max_vtbi", VU_PER_ML // 10, PUMP_MAX_VTBI, fmt_ml, " mL"),
    _rng("kvo_rate", 0, 20 * RATE_PER_ML_H, fmt_ml_h, " mL/h"),
    _rng("max_tick_ms", 1, TICK_MAX_MS),
    _rng("silence_ms", MS_PER_S, SILENCE_MAX_MS),
    _rng("callback_ms", 30 * MS_PER_S, 10 * MS_PER_MIN),
    _rng("paused_limit_ms", 30 * MS_PER_S, 60 * MS_PER_MIN),
    _rng("near_end_ms", 0, 240 * MS_PER_MIN),
    _rng("prime_rate", RATE_PER_ML_H, PUMP_MAX_RATE, fmt_ml_h, " mL/h"),  # used as min(prime_rate, max_rate)
    _rng("prime_max", 0, 50 * VU_PER_ML, fmt_ml, " mL"),
    *(_route_rng("route_max_rate", r, lambda c: c.min_rate, lambda c: PUMP_MAX_RATE, fmt_ml_h, " mL/h")
      for r in Route),  # rate_cap takes min(max_rate, route cap)
    *(_route_rng("bubble_limit_nl", r, lambda c: 1, lambda c: 500 * NL_PER_UL, str, " nL") for r in Route),
    _rng("air_accum_nl", NL_PER_UL, 5_000 * NL_PER_UL, str, " nL"),
    _rng("air_bucket_ms", MS_PER_MIN, 10 * MS_PER_MIN),
    Check("max_tick_ms", lambda c: c.max_tick_ms <= c.air_bucket_ms,
          lambda c: f"<= air_bucket_ms ({c.air_bucket_ms})", lambda c: c.max_tick_ms, ("REQ-CFG-001",)),
    _rng("battery_low_min", 1, 120),
    _rng("battery_depleted_min", 0, 60),
    _rng("overheat_c10", 400, 550),  # REQ-TMP-001: configurable only lower than 55 C
    _rng("temp_min_c10", -100, 200),
    _rng("temp_max_c10", 300, 500),
    Check("temp_max_c10", lambda c: c.temp_max_c10 < c.overheat_c10,
          lambda c: f"< overheat_c10 ({c.overheat_c10})", lambda c: c.temp_max_c10, ("REQ-CFG-001",)),
    _rng("change_factor", 2, 10),
    Check("battery_depleted_min", lambda c: c.battery_depleted_min < c.battery_low_min,
          lambda c: f"< battery_low_min ({c.battery_low_min})", lambda c: c.battery_depleted_min, ("REQ-CFG-001",)),
)

# a field that must stay below another one: when a user sets the other and leaves this one alone,
# its default is lowered just enough, so every default is valid for every valid setting of the
# field it depends on (REQ-CFG-001)
DEPENDENT_DEFAULTS: dict[str, str] = {"battery_depleted_min": "battery_low_min", "temp_max_c10": "overheat_c10"}


def with_settings(settings: Mapping[str, Any], base: Limits | None = None) -> Limits:
    """``base`` (default: the defaults) with a user's ``settings`` (core field names and units),
    and each field of ``DEPENDENT_DEFAULTS`` the user did not set lowered to just below the field
    it must stay below, if the user set that one lower than the default allows. Not validated:
    ``validate_limits`` judges the result."""
    b = base if base is not None else Limits()
    out = dict(settings)
    for field_name, above in DEPENDENT_DEFAULTS.items():
        bound = out.get(above)
        if field_name not in out and type(bound) is int:
            out[field_name] = min(getattr(b, field_name), bound - 1)
    return replace(b, **out)


def limits_ok(c: Limits) -> bool:
    """Dual-use: the configuration is one the pump accepts (REQ-CFG-001)."""
    return all_ok(LIMIT_CHECKS, c)


def validate_limits(c: Limits, source: str = "") -> Limits:
    """Raise ConfigurationError naming the first bad field; return ``c`` when valid."""
    if not (isinstance(c.route_max_rate, tuple) and len(c.route_max_rate) == N_ROUTES):
        raise_first_shape("route_max_rate", c.route_max_rate, source)
    if not (isinstance(c.bubble_limit_nl, tuple) and len(c.bubble_limit_nl) == N_ROUTES):
        raise_first_shape("bubble_limit_nl", c.bubble_limit_nl, source)
    for f in LIMIT_FIELDS:
        v = getattr(c, f)
        items = v if isinstance(v, tuple) else (v,)
        if not all(isinstance(x, int) and not isinstance(x, bool) for x in items):
            raise ConfigurationError(f, v, "integers in core units", source=source)
    raise_first(LIMIT_CHECKS, c, source=source)
    return c


def raise_first_shape(name: str, value: object, source: str) -> None:
    raise ConfigurationError(name, value, f"one value per route ({', '.join(ROUTE_NAMES)})", source=source)
