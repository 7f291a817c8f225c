"""The table's import-time structural checks: each one fires, with a fix-it message."""

from __future__ import annotations

from dataclasses import replace

import pytest

from controller.core import effects as E
from controller.core import guards as G
from controller.core.table import TABLE, Row, check_table, rows_for
from controller.errors import TableError


def _row(trigger: str, sources: tuple[str, ...], dest: str | None, conds: tuple[G.Cond, ...] = ()) -> Row:
    return Row(trigger, sources, dest, conds, E.nothing, ("REQ-CFG-001",))


def test_the_real_table_passes_and_every_row_cites_requirements() -> None:
    check_table(TABLE)
    assert all(r.reqs for r in TABLE)
    assert all(r.trigger == "tick" for r in rows_for("RUNNING", "tick"))


@pytest.mark.req("REQ-CFG-001")
@pytest.mark.parametrize(("table", "problem", "fix"), [
    (TABLE + (_row("teleport", ("IDLE",), "RUNNING"),), "unknown trigger", "use one of"),
    (TABLE + (_row("start", ("IDLE",), "FLYING"),), "unknown state", "use one of"),
    (TABLE + (replace(_row("start", ("IDLE",), "RUNNING"), reqs=()),), "cites no requirement", "requirement ids"),
    (tuple(r for r in TABLE if not (r.trigger == "tick" and "PAUSED" in r.sources and r.dest is None))
     + (_row("tick", tuple(s for r in TABLE if r.trigger == "tick" and "PAUSED" in r.sources and r.dest is None
                          for s in r.sources if s != "PAUSED"), None, (G.by_system, G.tick_ok)),),
     "does not accept tick", "add a tick row"),
    ((_row("stop", ("RUNNING",), "STOPPED"), *TABLE), "can never fire", "give it a guard or move it last"),
    (tuple(r for r in TABLE if r.dest != "KVO"), "unreachable from POST", "add a row that enters them"),
    (tuple(replace(r, sources=tuple(x for x in r.sources if x != "STOPPED"))
           if "STOPPED" in r.sources and r.dest not in (None, "STOPPED") and len(r.sources) > 1 else r
           for r in TABLE if not (r.sources == ("STOPPED",) and r.dest not in (None, "STOPPED"))),
     "is a trap", "add an exit"),
])
def test_each_structural_check_fires_with_a_fix(table: tuple[Row, ...], problem: str, fix: str) -> None:
    with pytest.raises(TableError) as exc:
        check_table(table)
    assert problem in str(exc.value) and fix in str(exc.value)
