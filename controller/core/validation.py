"""Validation written once, used three ways.

Theory of operation
-------------------
A validation rule is a ``Check``: a field name, a dual-use predicate and the allowed range
as text. The same list of checks

- refuses bad limits and programs at run time with a message naming the field, the value
  and the allowed range (``problems``/``raise_first``),
- becomes a guard of the transition table (``all_ok``), and
- constrains the symbolic configuration in the proofs, so a proof holds for *every*
  configuration the runtime would accept, and for no configuration it would refuse.

Rules
1. Predicates are dual-use (see ``controller.core.logic``) and total.
2. ``allowed`` may depend on the objects being checked (for ranges that depend on the pump).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from controller.core.logic import all_of
from controller.errors import ConfigurationError


@dataclass(frozen=True, slots=True)
class Check:
    field: str
    pred: Callable[..., bool]
    allowed: Callable[..., str]
    value: Callable[..., object]
    reqs: tuple[str, ...] = ()


def all_ok(checks: Sequence[Check], *objs: Any) -> bool:
    return all_of(*(c.pred(*objs) for c in checks))


def problems(checks: Sequence[Check], *objs: Any) -> list[tuple[str, object, str]]:
    """(field, value, allowed) of every failing check, in order (concrete values only)."""
    return [(c.field, c.value(*objs), c.allowed(*objs)) for c in checks if not c.pred(*objs)]


def raise_first(checks: Sequence[Check], *objs: Any, source: str = "") -> None:
    for field, value, allowed in problems(checks, *objs):
        raise ConfigurationError(field, value, allowed, source=source)
