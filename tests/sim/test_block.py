"""The block path of the simulated pump and of the shell (the skipping mode) against the period path.

- ``SimPump.poll_block`` leaves every attribute of the pump - mechanism, line, sensors and their
  noise streams, sensing - bit for bit where as many ``poll`` calls leave it, and reports the same
  events at the same periods; with numpy (the regular periods at once) and without (``poll`` for
  each period);
- ``Renewals`` is ``Shell._renew_horizon`` over a quiet block, renewal for renewal;
- ``Shell.skip`` declines what it cannot do, and a tripped volume cross-check ends a block at the
  period the period loop trips it;
- a noise stream gives the same values one at a time or a block at once.
"""

from __future__ import annotations

import random
from typing import Any

import pytest

from controller.core.commands import SetFlow
from controller.core.horizon import horizon
from controller.drivers import simblock
from controller.drivers.sim import SimPump
from controller.plant.noise import Normal
from controller.plant.params import PlantParams
from controller.runtime.shell import Renewals, Shell, Tolerance
from controller.scenario.model import parse
from controller.scenario.run import Runner

SKIP_ATTRS = frozenset({"rng", "params", "p", "spec", "cfg", "clock", "shape", "log", "mark_at", "marked",
                        "block_run", "block_wait", "block_backoff"})  # the block path's own bookkeeping


def state(x: Any, path: str = "pump", seen: set[int] | None = None) -> dict[str, str]:
    """Every attribute reachable from the pump, as text (floats by repr: bit for bit)."""
    seen = set() if seen is None else seen
    if id(x) in seen:
        return {}
    seen.add(id(x))
    names = [n for c in type(x).__mro__ for n in getattr(c, "__slots__", ())] or list(vars(x))
    out: dict[str, str] = {}
    for k in names:
        if k in SKIP_ATTRS:
            continue
        v = getattr(x, k, None)
        if isinstance(v, Normal):
            out[f"{path}.{k}"] = repr(v.peek(4))  # where the stream stands: its next values
        elif isinstance(v, int | float | str | bool | tuple | list | frozenset | type(None)):
            out[f"{path}.{k}"] = repr(v)
        elif isinstance(v, dict):
            for kk, vv in v.items():
                out.update(state(vv, f"{path}.{k}[{kk}]", seen))
        elif hasattr(v, "__slots__") or hasattr(v, "__dict__"):
            out.update(state(v, f"{path}.{k}", seen))
    return out


CASES = [
    ("syringe", 100_000, {}),
    ("cassette", 100_000, {}),
    ("syringe", 1_000, {"screw_error_pct": 0.0}),
    ("cassette", 25_000, {"reservoir_ml": 1.0}),  # runs dry: reservoir event, then air from the empty bag
    ("syringe", 500_000, {"on_mains": False, "battery_min": 20.0}),  # battery events, then power lost
    ("syringe", 0, {"battery_min": 100.0}),  # stopped, charging
    ("cassette", 999_000, {"artifacts_per_h": 120.0, "posture_per_h": 20.0}),  # many irregular periods
    ("syringe", 50_000, {"wander_kpa": 0.0, "backlash_steps": 0, "volume_error_pct": 3.0}),
]


def pump(seed: int, mechanism: str, rate: int, kw: dict[str, Any], first_poll: bool = False) -> SimPump:
    """A pump commanded to ``rate`` (uL/h); ``first_poll``: past its first poll (power and temperature events)."""
    p = SimPump(PlantParams(mechanism=mechanism, **kw), seed=seed)
    p.request(SetFlow(rate, 10**15))
    if first_poll:
        assert p.poll(100)
    return p


def through_polls(p: SimPump, n: int, period: int) -> list[tuple[int, list[str]]]:
    out = []
    for i in range(1, n + 1):
        events = p.poll(i * period)
        if events:
            out.append((i, [repr(e) for e in events]))
    return out


def through_blocks(p: SimPump, n: int, period: int, most: int) -> list[tuple[int, list[str]]]:
    out, done = [], 0
    while done < n:
        got = p.poll_block(done * period, period, min(most, n - done))
        assert got is not None
        j, events = got
        assert j >= 1
        done += j
        if events:
            out.append((done, [repr(e) for e in events]))
    return out


@pytest.mark.parametrize("numpy", [True, False], ids=["numpy", "poll-only"])
@pytest.mark.parametrize(("mechanism", "rate", "kw"), CASES)
def test_a_block_ends_bit_for_bit_where_the_polls_do(mechanism: str, rate: int, kw: dict[str, Any], numpy: bool,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    if not numpy:
        monkeypatch.setattr(simblock, "np", None)
    n, period = 3000, 100
    for seed in (0, 7):
        a, b = pump(seed, mechanism, rate, kw), pump(seed, mechanism, rate, kw)
        assert through_polls(a, n, period) == through_blocks(b, n, period, 700)
        sa, sb = state(a), state(b)
        assert len(sa) > 200
        assert {k: v for k, v in sa.items() if v != sb.get(k)} == {}


Action = tuple[int, str, tuple[Any, ...]]  # (before period i, SimPump method, arguments)


def drive(p: SimPump, n: int, period: int, actions: list[Action], most: int | None) -> list[tuple[int, list[str]]]:
    """``n`` periods with the world changed before the periods the actions name; by polls (``most``
    None) or by blocks of at most ``most`` periods (never across an action)."""
    out, done, todo = [], 0, sorted(actions)
    while done < n:
        while todo and todo[0][0] <= done + 1:
            _, name, args = todo.pop(0)
            getattr(p, name)(*args)
        stop = min([a[0] - 1 for a in todo] + [n])
        if most is None:
            done += 1
            events = p.poll(done * period)
        else:
            got = p.poll_block(done * period, period, min(most, stop - done))
            assert got is not None
            j, events = got
            done += j
        if events:
            out.append((done, [repr(e) for e in events]))
    return out


FAULTS = [(sensor, mode, value) for sensor in ("downstream_pressure", "air", "door", "reservoir", "mains", "encoder")
          for mode, value in (("stuck", None), ("out_of_range", None), ("out_of_range", 0.7), ("invalid", None),
                              ("disconnected", None), ("noisy", None))]


@pytest.mark.parametrize(("sensor", "mode", "value"), FAULTS)
def test_a_faulted_sensor_through_blocks_is_the_polls(sensor: str, mode: str, value: float | None) -> None:
    """Each per-period sensor in each fault mode, then healthy again: the blocks take the fixed readings
    (the monitors counting their invalid time) and the polls give the same, bit for bit."""
    actions: list[Action] = [(300, "sensor_fault", (sensor, mode, value)), (2_500, "sensor_fault", (sensor, "ok")),
                             (3_000, "request", (SetFlow(0, 10**15),))]
    a, b = pump(11, "syringe", 80_000, {}), pump(11, "syringe", 80_000, {})
    assert drive(a, 4_000, 100, actions, None) == drive(b, 4_000, 100, actions, 900)
    assert state(a) == state(b)


@pytest.mark.parametrize("mechanism", ["syringe", "cassette"])
def test_the_world_changing_between_blocks_is_the_polls(mechanism: str) -> None:
    """Occlusions (full and partial), their release, air standing at the detector while the pump is
    stopped, the door, mains, temperature, an upstream pressure sensor failing."""
    actions: list[Action] = [
        (200, "occlude", ("downstream",)), (900, "request", (SetFlow(0, 10**15),)), (950, "release", ("downstream",)),
        (1_000, "request", (SetFlow(300_000, 10**15),)), (1_200, "occlude", ("downstream", 3.0)),
        (1_600, "release", ("downstream",)), (1_700, "request", (SetFlow(0, 10**15),)),
        (1_750, "add_bubble", (80.0, 0.0)), (1_800, "request", (SetFlow(200_000, 10**15),)),
        (2_200, "request", (SetFlow(0, 10**15),)), (2_300, "set_door", (True,)), (2_600, "set_door", (False,)),
        (2_700, "set_mains", (False,)), (2_800, "set_temperature", (31.0,)), (3_300, "set_mains", (True,)),
        (3_400, "request", (SetFlow(50_000, 10**15),)),
    ]
    if mechanism == "cassette":
        actions += [(3_500, "sensor_fault", ("upstream_pressure", "invalid")), (3_550, "sensor_fault",
                    ("upstream_pressure", "ok")), (3_700, "occlude", ("upstream",)),
                    (3_800, "request", (SetFlow(0, 10**15),))]  # stopped with the container side drawn down
    a, b = pump(4, mechanism, 100_000, {}), pump(4, mechanism, 100_000, {})
    assert drive(a, 4_000, 100, actions, None) == drive(b, 4_000, 100, actions, 700)
    assert state(a) == state(b)


def test_the_regular_periods_are_most_of_them(monkeypatch: pytest.MonkeyPatch) -> None:
    """The numpy path takes the steady periods (else the test above would only test poll against poll)."""
    taken = []
    real = simblock.regular

    def counting(*a: Any) -> Any:
        r = real(*a)
        taken.append(r[0])
        return r

    monkeypatch.setattr(simblock, "regular", counting)
    p = pump(1, "cassette", 100_000, {})
    through_blocks(p, 20_000, 100, 4096)
    assert sum(taken) > 19_900


def test_a_guard_ends_the_block_after_the_period_it_trips() -> None:
    a, b = pump(3, "syringe", 100_000, {}, True), pump(3, "syringe", 100_000, {}, True)
    limit = 40.0  # uL pushed
    got = b.poll_block(100, 100, 2000, lambda i, measured, pushed: pushed > limit)
    assert got is not None
    j, _ = got
    i = 0
    while True:
        i += 1
        a.poll(100 + i * 100)
        if a.pushed_ul > limit:
            break
    assert j == i > 10 and state(a) == state(b)


def test_marks_note_the_truth_after_their_periods() -> None:
    a, b = pump(5, "syringe", 60_000, {}, True), pump(5, "syringe", 60_000, {}, True)
    b.mark_at = frozenset({1, 10, 99, 999})
    got = b.poll_block(100, 100, 1000)
    assert got == (1000, [])
    want = []
    for i in range(1, 1000):
        assert a.poll(100 + i * 100) == []
        if i in b.mark_at:
            want.append((i, a.line.to_patient, a.line.P, a.sensed_kpa))
    assert b.marked == want and len(want) == 4


def test_a_noise_stream_is_the_same_read_one_by_one_or_in_blocks() -> None:
    a, b = Normal("x"), Normal("x")
    one = [a.next() for _ in range(3000)]
    rng, got = random.Random(1), []
    while len(got) < 3000:
        k = min(rng.randrange(1, 900), 3000 - len(got))
        peeked = b.peek(k)
        assert b.peek(k) == peeked  # peeking uses nothing
        b.skip(k)
        got += peeked
    assert got == one and a.next() == b.next()


# --- the shell ---------------------------------------------------------------------------------------


def brute_renewals(sent: int, odo: int, rate: int, period: int, ahead_ms: int, core_cap: int,
                   k: int) -> list[tuple[int, int]]:
    """Shell._renew_horizon, period by period (no event, constant rate)."""
    out = []
    for i in range(1, k + 1):
        odo += rate * period
        if sent >= core_cap:
            continue
        if sent - odo < rate * ahead_ms // 2:
            sent = min(core_cap, odo + rate * ahead_ms)
            out.append((i, sent))
    return out


@pytest.mark.parametrize("seed", range(40))
def test_renewals_are_the_shells_period_by_period(seed: int) -> None:
    rng = random.Random(seed)
    period = rng.choice([10, 100, 250, 1000])
    ahead_ms = period * rng.choice([3, 4, 7])
    rate = rng.randrange(1, 1_200_000)
    odo = rng.randrange(0, 10**9)
    per, ahead = rate * period, rate * ahead_ms
    sent = odo + rng.randrange(ahead // 2 + 1, ahead + 1)
    core_cap = odo + rng.randrange(per, 400 * per)
    k = 300
    want = brute_renewals(sent, odo, rate, period, ahead_ms, core_cap, k)
    if sent >= core_cap:
        return
    half = ahead // 2
    plan = Renewals(max(1, (sent - odo - half) // per + 1), (ahead - half) // per + 1, odo, per, ahead, core_cap, sent)
    for i in range(0, k + 1):
        done = [r for r in want if r[0] <= i]
        assert plan.last(i) == (done[-1] if done else None), i
        assert plan.cap_during(i + 1) == (done[-1][1] if done else sent)


def quiet_runner(skip: bool, tolerance: Tolerance | None = None) -> Runner:
    sc = parse({"name": "block", "duration_s": 600, "control_period_ms": 100, "seed": 2,
                "event": [{"at_s": 0, "type": "program", "rate_ml_h": 50, "vtbi_ml": 20, "reservoir_ml": 30},
                          {"at_s": 0, "type": "start"}]}, "<block>")
    r = Runner(sc, skip=skip)
    if tolerance is not None:
        r.shell.tolerance = tolerance
    return r


def test_skip_declines_what_it_cannot_do() -> None:
    r = quiet_runner(True)
    r.advance(1_000)
    shell = r.shell
    assert horizon(shell.ctl.vars, shell.ctl.state) >= 2 * 100
    shell.hold = True
    assert shell.skip(100, 50) is None  # holding every command that moves the mechanism
    shell.hold = False
    assert shell.skip(100, 1) is None  # one period is a step
    r.clock.t_ms += 1
    assert shell.skip(100, 50) is None  # not at the boundary of the last step
    r.clock.t_ms -= 1
    plain = Shell(shell.ctl, shell.driver, shell.clock)  # a clock it may move, but a driver without blocks:
    plain.last_ms = r.clock.t_ms
    plain.driver = type("NoBlocks", (), {})()  # type: ignore[assignment]
    assert plain.skip(100, 50) is None


def test_a_cross_check_trips_in_a_block_where_it_trips_period_by_period() -> None:
    """A tolerance of 0: the mechanism's step quantization alone trips the volume cross-check."""
    strict = Tolerance(abs_ul=0, rel_permille=0)
    ref, fast = quiet_runner(False, strict), quiet_runner(True, strict)
    ref.advance(60_000)
    fast.advance(60_000)
    assert ref.ctl.state == fast.ctl.state == "FAILSAFE"
    a = [(x.at_ms, x.alarm) for x in ref.res.alarms]
    assert a == [(x.at_ms, x.alarm) for x in fast.res.alarms] and any(al == "motor_fault" for _, al in a)
    assert fast.res.steps < ref.res.steps


def test_a_block_snapshot_is_the_period_loops() -> None:
    """The last horizon renewal inside a block is persisted as step() would have: same state, variables, cap."""
    ref, fast = quiet_runner(False), quiet_runner(True)
    for t in (1_000, 77_700, 300_000):
        ref.advance(t)
        fast.advance(t)
        assert fast.res.blocks > 0
        assert ref.snapshot == fast.snapshot and ref.shell.sent_cap == fast.shell.sent_cap
        assert ref.plant.mech.cap == fast.plant.mech.cap and ref.ctl.vars == fast.ctl.vars


def test_the_mechanism_never_reaches_a_cap_in_force() -> None:
    """The block runs the mechanism to the largest cap of its renewals: never reached, so the same."""
    r = quiet_runner(True)
    r.advance(120_000)
    m = r.plant.mech
    assert m.pos < m.cap and m.cap - m.pos >= m.rate * 100  # at least a period ahead after a block
