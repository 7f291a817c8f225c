"""Integer units of the core and exact conversions from user units at the edge.

Theory of operation
-------------------
The core never sees a float. Time is integer milliseconds, rates are integer microlitres
per hour, and volumes are in *volume units* (vu) chosen so that ``rate * dt`` is exactly
the volume delivered in a tick, with no rounding at all::

    1 vu = 1 (uL/h) x 1 ms = 1/3,600,000,000 mL  (about 0.28 pL)

so 1 mL = 3.6e9 vu and 9999 mL = 3.6e13 vu, well inside 64-bit range. Air is counted in
nanolitres. User values (mL, mL/h, mcg/kg/min, s, ...) are converted with
``fractions.Fraction``; the rounding direction is chosen per quantity so that rounding
never increases delivery:

Rules
1. Upper limits on delivery (VTBI, rates, caps, bolus volumes, window limits) round *down*.
2. Lower limits on spacing (lockouts, intervals, window lengths) round *up*.
3. NaN, infinities, booleans and non-numeric strings are refused with a ConfigurationError
   naming the field; negative values are refused unless the caller allows them.
"""

from __future__ import annotations

import math
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Literal

from controller.errors import ConfigurationError

VU_PER_ML = 3_600_000_000
VU_PER_UL = 3_600_000
RATE_PER_ML_H = 1_000  # rate unit: uL/h
MS_PER_S = 1_000
MS_PER_MIN = 60_000
MS_PER_H = 3_600_000
NL_PER_UL = 1_000  # air unit: nL

Rounding = Literal["down", "up"]
MAX_USER_NUMBER = 10**15  # far above any pump quantity; keeps exact arithmetic and messages bounded


def to_fraction(value: object, field: str, *, allow_negative: bool = False) -> Fraction:
    """Parse a user number exactly. Floats are taken by their shortest decimal repr
    (``0.1`` means one tenth, not the binary double nearest to it)."""
    if isinstance(value, bool) or value is None:
        raise ConfigurationError(field, value, "a finite number")
    if isinstance(value, Fraction):
        out = value
    elif isinstance(value, int):
        out = Fraction(value)
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ConfigurationError(field, value, "a finite number", "NaN and infinity are never valid")
        out = Fraction(Decimal(repr(value)))
    elif isinstance(value, (str, Decimal)):
        try:
            dec = Decimal(str(value).strip())
        except InvalidOperation:
            raise ConfigurationError(field, value, "a finite number") from None
        if not dec.is_finite():
            raise ConfigurationError(field, value, "a finite number", "NaN and infinity are never valid")
        if len(dec.as_tuple().digits) > 30 or (dec and not -30 <= dec.adjusted() < 15):
            # refused before Fraction(): "1e999999999" would otherwise compute 10**999999999
            raise ConfigurationError(field, value, "a number of at most 30 digits below 1e15")
        out = Fraction(dec)
    else:
        raise ConfigurationError(field, value, "a finite number")
    if abs(out) >= MAX_USER_NUMBER:
        raise ConfigurationError(field, value if not isinstance(value, int) else "a huge integer",
                                 "a number below 1e15")
    if out < 0 and not allow_negative:
        raise ConfigurationError(field, value, "a number >= 0")
    return out


def _round(x: Fraction, rounding: Rounding) -> int:
    return math.floor(x) if rounding == "down" else math.ceil(x)


def ml_to_vu(ml: object, field: str, rounding: Rounding = "down") -> int:
    return _round(to_fraction(ml, field) * VU_PER_ML, rounding)


def ml_h_to_rate(ml_h: object, field: str, rounding: Rounding = "down") -> int:
    return _round(to_fraction(ml_h, field) * RATE_PER_ML_H, rounding)


def s_to_ms(seconds: object, field: str, rounding: Rounding = "up") -> int:
    return _round(to_fraction(seconds, field) * MS_PER_S, rounding)


def ul_to_nl(ul: object, field: str, rounding: Rounding = "down") -> int:
    return _round(to_fraction(ul, field) * NL_PER_UL, rounding)


def vu_to_ml(vu: int) -> Fraction:
    return Fraction(vu, VU_PER_ML)


def rate_to_ml_h(rate: int) -> Fraction:
    return Fraction(rate, RATE_PER_ML_H)


def fmt_ml(vu: int, places: int = 3) -> str:
    return f"{float(vu_to_ml(vu)):.{places}f}"


def fmt_ml_h(rate: int, places: int = 3) -> str:
    return f"{float(rate_to_ml_h(rate)):.{places}f}"
