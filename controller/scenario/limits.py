"""The ``[pump]`` table's pump limits, in user units, to a validated ``Limits``.

Theory of operation
-------------------
Scenario files speak mL, mL/h, uL and seconds; ``Limits`` holds core integers. Each key in
``LIMIT_KEYS`` names its ``Limits`` field and its conversion; the result is checked by
``validate_limits`` (the same checks the core's ``configure`` guard runs), and a refusal is
reported under the scenario's own key (``pump.max_rate_ml_h``), not the core's.

Rules
1. Rounding never loosens a safety limit: rates, volumes and audio pauses round down;
   the near-end warning and the air window round up (earlier warning, longer window).
2. Per-route tables (``route_max_rate_ml_h``, ``bubble_limit_ul``) may name only some routes;
   the others keep their defaults.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from controller.core import units as U
from controller.core.limits import ROUTE_NAMES, Limits, validate_limits, with_settings
from controller.errors import ConfigurationError

Conv = Callable[[object, str], int]


def _int(v: object, field: str) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise ConfigurationError(field, v, "a whole number")
    return v


def _s_down(v: object, field: str) -> int:
    return U.s_to_ms(v, field, rounding="down")


LIMIT_KEYS: dict[str, tuple[str, Conv]] = {
    "max_rate_ml_h": ("max_rate", U.ml_h_to_rate),
    "min_rate_ml_h": ("min_rate", U.ml_h_to_rate),
    "max_vtbi_ml": ("max_vtbi", U.ml_to_vu),
    "kvo_rate_ml_h": ("kvo_rate", U.ml_h_to_rate),
    "max_tick_ms": ("max_tick_ms", _int),
    "silence_s": ("silence_ms", _s_down),
    "callback_s": ("callback_ms", _s_down),
    "paused_limit_s": ("paused_limit_ms", _s_down),
    "near_end_s": ("near_end_ms", U.s_to_ms),
    "prime_rate_ml_h": ("prime_rate", U.ml_h_to_rate),
    "prime_max_ml": ("prime_max", U.ml_to_vu),
    "air_accum_ul": ("air_accum_nl", U.ul_to_nl),
    "air_bucket_s": ("air_bucket_ms", U.s_to_ms),
    "battery_low_min": ("battery_low_min", _int),
    "battery_depleted_min": ("battery_depleted_min", _int),
    "route_max_rate_ml_h": ("route_max_rate", U.ml_h_to_rate),
    "bubble_limit_ul": ("bubble_limit_nl", U.ul_to_nl),
}
_BACK = {core: key for key, (core, _) in LIMIT_KEYS.items()}


def build_limits(raw: Mapping[str, object], source: str = "") -> Limits:
    out: dict[str, object] = {}
    base = Limits()
    for key, value in raw.items():
        core, conv = LIMIT_KEYS[key]
        field = f"pump.{key}"
        try:
            if core in ("route_max_rate", "bubble_limit_nl"):
                if not isinstance(value, Mapping):
                    raise ConfigurationError(field, value, "a table of route = value, routes: "
                                             + ", ".join(ROUTE_NAMES))
                per = list(getattr(base, core))
                for route, v in value.items():
                    if route not in ROUTE_NAMES:
                        raise ConfigurationError(f"{field}.{route}", v, "routes: " + ", ".join(ROUTE_NAMES))
                    per[ROUTE_NAMES[route]] = conv(v, f"{field}.{route}")
                out[core] = tuple(per)
            else:
                out[core] = conv(value, field)
        except ConfigurationError as exc:
            raise ConfigurationError(exc.field, exc.value, exc.allowed, exc.fix, source=source) from None
    limits = with_settings(out, base)  # a default that depends on a setting follows it
    try:
        return validate_limits(limits)
    except ConfigurationError as exc:
        name, _, route = exc.field.partition("[")
        key = _BACK.get(name, name)
        field = f"pump.{key}" + (f".{route.rstrip(']')}" if route else "")
        raise ConfigurationError(field, exc.value, exc.allowed, exc.fix or "pump limits must pass validation",
                                 source=source) from None
