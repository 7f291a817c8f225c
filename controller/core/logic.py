"""Dual-use integer logic: the same guard runs on ints, on Z3 terms and under CrossHair.

Theory of operation
-------------------
Guards, effects and invariants are written once and evaluated three ways: with Python
``int``/``bool`` at run time, with Z3 terms by ``proofs/`` (to build the transition
relation that is proved) and symbolically by CrossHair. Python's ``if``/``and``/``or``/
``min`` cannot branch on a Z3 term, so code that may see symbolic values uses these
functions instead. The core must not import Z3 (its only runtime dependency is
``transitions``), so the symbolic operators are *registered* by the proof layer.

Rules
1. A value is concrete when it is a Python ``bool``/``int`` (CrossHair's symbolic ints
   pass ``isinstance(x, int)`` and take the concrete path, which is what CrossHair wants).
2. Anything else is handed to the registered backend; without one it is an error.
3. Every function evaluates all its arguments (no short-circuit): guards must therefore be
   total (no division by a possibly-zero value, no indexing by a symbolic value). ``branch``,
   ``implies_then`` and ``or_else`` take the costly part as a function: at run time it is called
   only when the result depends on it, and it is always called when the condition is symbolic.
4. ``div_floor`` only accepts a positive divisor; callers guarantee it by validation.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import fields, is_dataclass
from typing import Any, TypeVar

T = TypeVar("T")

_IF: Callable[[Any, Any, Any], Any] | None = None
_AND: Callable[..., Any] | None = None
_OR: Callable[..., Any] | None = None
_NOT: Callable[[Any], Any] | None = None


def register_backend(
    if_: Callable[[Any, Any, Any], Any],
    and_: Callable[..., Any],
    or_: Callable[..., Any],
    not_: Callable[[Any], Any],
) -> None:
    """Install the symbolic operators (the proof layer passes z3.If/And/Or/Not)."""
    global _IF, _AND, _OR, _NOT
    _IF, _AND, _OR, _NOT = if_, and_, or_, not_


def _backend(op: Callable[..., Any] | None) -> Callable[..., Any]:
    if op is None:
        raise TypeError("symbolic value used but no symbolic backend is registered")
    return op


def is_concrete(x: object) -> bool:
    return isinstance(x, (bool, int))


def ite(cond: bool, then: T, other: T) -> T:
    """If-then-else over values (both branches are always evaluated)."""
    if cond is True:
        return then
    if cond is False:
        return other
    if isinstance(cond, bool):
        return then if cond else other
    result: T = _backend(_IF)(cond, then, other)
    return result


def all_of(*conds: bool) -> bool:
    """Conjunction. A concrete False decides it even when other arguments are symbolic."""
    symbolic = False
    for c in conds:
        if c is True:
            continue
        if c is False:
            return False
        if isinstance(c, bool):  # CrossHair's symbolic bools take the concrete path
            if not c:
                return False
            continue
        symbolic = True
    if not symbolic:
        return True
    result: bool = _backend(_AND)(*conds)
    return result


def any_of(*conds: bool) -> bool:
    """Disjunction. A concrete True decides it even when other arguments are symbolic."""
    symbolic = False
    for c in conds:
        if c is False:
            continue
        if c is True:
            return True
        if isinstance(c, bool):
            if c:
                return True
            continue
        symbolic = True
    if not symbolic:
        return False
    result: bool = _backend(_OR)(*conds)
    return result


def not_(cond: bool) -> bool:
    if isinstance(cond, bool):
        return not cond
    result: bool = _backend(_NOT)(cond)
    return result


def implies(a: bool, b: bool) -> bool:
    return any_of(not_(a), b)


def implies_then(a: bool, b: Callable[[], bool]) -> bool:
    """``implies(a, b())``, with the consequent computed only when ``a`` is not a concrete False: the
    run-time checks skip it, the proofs get the very term ``implies`` builds (rule 3's exception,
    for invariants whose consequent is costly and whose antecedent is rarely true)."""
    if isinstance(a, bool) and not a:
        return True
    return implies(a, b())


def or_else(a: bool, b: Callable[[], bool]) -> bool:
    """``any_of(a, b())``, with ``b`` computed only when ``a`` is not a concrete True."""
    if isinstance(a, bool) and a:
        return True
    return any_of(a, b())


def minimum(first: int, *rest: int) -> int:
    out = first
    for x in rest:
        if type(x) is int and type(out) is int:  # run time (exact type: fastest check)
            if x < out:
                out = x
        else:
            out = ite(x < out, x, out)
    return out


def maximum(first: int, *rest: int) -> int:
    out = first
    for x in rest:
        if type(x) is int and type(out) is int:
            if x > out:
                out = x
        else:
            out = ite(x > out, x, out)
    return out


def clamp(x: int, lo: int, hi: int) -> int:
    return minimum(maximum(x, lo), hi)


def div_floor(a: int, b: int) -> int:
    """Floor division by a positive divisor (Z3's integer ``/`` floors for b > 0)."""
    if isinstance(a, int) and isinstance(b, int):
        if b <= 0:
            raise ZeroDivisionError("div_floor needs a positive divisor")
        return a // b
    result: int = a / b
    return result


def div_ceil(a: int, b: int) -> int:
    """Ceiling division by a positive divisor, written with div_floor so it is dual-use."""
    return div_floor(a + b - 1, b)


def total(xs: Sequence[int]) -> int:
    out: int = 0
    for x in xs:
        out = out + x
    return out


def count(conds: Sequence[bool]) -> int:
    """How many of the conditions hold (dual-use)."""
    return total([ite(c, 1, 0) for c in conds])


def pick(index: int, options: Sequence[T]) -> T:
    """``options[index]`` for a possibly symbolic index (the last option for out-of-range)."""
    if type(index) is int or isinstance(index, int):
        return options[index] if 0 <= index < len(options) else options[-1]
    out = options[-1]
    for i in range(len(options) - 2, -1, -1):
        out = ite(index == i, options[i], out)
    return out


def merge(cond: bool, then: T, other: T) -> T:
    """``ite`` over records: tuples (named or not) of the same shape are merged leaf by leaf, a
    leaf shared by both sides is kept as it is."""
    if isinstance(cond, bool):
        return then if cond else other
    if then is other:
        return then
    if isinstance(then, tuple) and isinstance(other, tuple):
        if len(then) != len(other) or type(then) is not type(other):
            raise TypeError(f"merge of records of different shapes: {type(then).__name__}, {type(other).__name__}")
        parts = [merge(cond, a, b) for a, b in zip(then, other, strict=True)]
        out: Any = type(then)(*parts) if hasattr(then, "_fields") else tuple(parts)
        return out
    return ite(cond, then, other)


def branch(cond: bool, then: Callable[[], T], other: Callable[[], T]) -> T:
    """One definition for both paths: with a concrete ``cond`` only the branch taken is computed
    (the run-time fast path), with a symbolic one both are, and merged (``merge``). A shortcut
    written this way cannot disagree with what the proofs read, because it is the same code."""
    if isinstance(cond, bool):
        return then() if cond else other()
    return merge(cond, then(), other())


def same(a: object, b: object) -> bool:
    """Structural equality of records (dataclasses, tuples) whose leaves may be symbolic."""
    if a is b:  # one object (the run-time common case: an unchanged sub-record is shared)
        return True
    if isinstance(a, tuple) and isinstance(b, tuple):
        if len(a) != len(b):
            return False
        return all_of(*(same(x, y) for x, y in zip(a, b, strict=True)))
    if is_dataclass(a) and not isinstance(a, type):
        return all_of(*(same(getattr(a, f.name), getattr(b, f.name)) for f in fields(a)))
    result: bool = a == b
    return result
