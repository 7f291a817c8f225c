"""The README's embedding example, extracted and run as written: it must start the motor, keep
it running and agree with the core on what was delivered."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def _example() -> str:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Embedding the core in your own pump loop"):]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match, "the embedding section has a python example"
    return match.group(1)


def test_the_readme_embedding_example_runs_the_motor() -> None:
    scope: dict[str, object] = {"__name__": "readme_example"}
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(_example(), str(README), "exec"), scope)
    ctl, motor = scope["ctl"], scope["motor"]
    delivered = ctl.vars.flow.delivered  # type: ignore[attr-defined]
    assert ctl.state == "RUNNING"  # type: ignore[attr-defined]
    assert delivered == 25_000 * 60_000  # 25 mL/h for 60 s, in vu: exact
    assert motor.odo == delivered and motor.rate == 25_000  # type: ignore[attr-defined]
    assert "RUNNING 0.417 mL delivered, motor at 0.417 mL" in out.getvalue()


def test_the_example_refuses_loudly() -> None:
    """``obey`` raises on a refused event instead of carrying on as if it had been accepted."""
    scope: dict[str, object] = {"__name__": "readme_example"}
    src = _example()
    src = src[: src.index("limits = Limits()")]  # the definitions only
    exec(compile(src, str(README), "exec"), scope)
    from controller import Controller, ev

    ctl = Controller()
    try:
        scope["obey"](ctl.handle(ev("start")), scope["Motor"]())  # type: ignore[operator]
    except RuntimeError as exc:
        assert "start refused in POST" in str(exc)
    else:
        raise AssertionError("a refused start must raise")
