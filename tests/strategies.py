"""Hypothesis strategies for events, programs and limits (valid and invalid)."""

from __future__ import annotations

from hypothesis import strategies as st

from controller.core.events import KINDS, Actor, Event, ev, tick
from controller.core.limits import Limits
from controller.core.program import MAX_PCA, Program
from controller.core.units import MS_PER_H, RATE_PER_ML_H, VU_PER_ML

ML, ML_H = VU_PER_ML, RATE_PER_ML_H
rates = st.sampled_from([0, 50, 100, 1_000, 2 * ML_H, 10 * ML_H, 100 * ML_H, 999 * ML_H, 1_500 * ML_H])
volumes = st.sampled_from([0, ML // 1000, ML // 10, ML, 5 * ML, 20 * ML, 100 * ML])


@st.composite
def programs(draw: st.DrawFn) -> Program:
    n = draw(st.integers(1, 4))
    step_rate = tuple(draw(rates) if i < n else 0 for i in range(4))
    step_vol = tuple(draw(volumes) if i < n - 1 else 0 for i in range(4))
    pca = draw(st.booleans())
    pca_rate = draw(st.sampled_from([ML_H, 50 * ML_H, 100 * ML_H])) if pca else 0
    pca_ms = draw(st.sampled_from([1_000, 36_000])) if pca else 0
    vtbi = draw(st.sampled_from([ML // 10, ML, 10 * ML, 50 * ML]))
    lim = draw(st.sampled_from([0, ML // 2, 2 * ML, 10 * ML]))
    return Program(
        loaded=draw(st.booleans()) or True, route=draw(st.integers(0, 4)), n_steps=n, step_rate=step_rate,
        step_vol=step_vol, interval_ms=draw(st.sampled_from([0, 0, 60_000, 600_000])), vtbi=vtbi,
        rate_hard_max=draw(st.sampled_from([999 * ML_H, 100 * ML_H, 20 * ML_H])),
        end_kvo=draw(st.booleans()),
        pca_vol=pca_rate * pca_ms + draw(st.sampled_from([0, 0, 1])) if pca else 0,
        pca_rate=pca_rate, pca_ms=pca_ms,
        lockout_ms=draw(st.sampled_from([pca_ms, 60_000, 600_000])) if pca else 0,
        pca_max_h=draw(st.integers(1, MAX_PCA)) if pca else 0,
        clin_bolus_max=draw(st.sampled_from([0, ML])),
        lim_vol=(lim, draw(st.sampled_from([0, lim * 4]))),
        lim_bucket_ms=(draw(st.sampled_from([1_000, 5_000, MS_PER_H // 12])),
                       draw(st.sampled_from([20_000, MS_PER_H // 3]))),
        reservoir_vol=vtbi + draw(st.sampled_from([0, ML, -ML // 20])),
        needs_confirm=draw(st.booleans()),
    )


limits = st.builds(Limits, kvo_rate=st.sampled_from([0, 1_000, 5_000, 30_000]),
                   max_tick_ms=st.sampled_from([100, 1_000, 20_000]), silence_ms=st.sampled_from([60_000, 120_000]),
                   near_end_ms=st.sampled_from([0, 300_000]))
actors = st.sampled_from(list(Actor))
ticks = st.sampled_from([0, 1, 7, 100, 999, 1_000, 1_001]).map(tick)


@st.composite
def events(draw: st.DrawFn) -> Event:
    kind = draw(st.sampled_from(KINDS))
    actor = draw(st.one_of(st.none(), actors))
    if kind == "tick":
        return tick(draw(st.sampled_from([0, 1, 50, 100, 1_000, 1_001])))
    payload: dict[str, object] = {}
    if kind == "program":
        payload["program"] = draw(programs())
    elif kind == "configure":
        payload["limits"] = draw(limits)
    elif kind in ("prime", "air", "clinician_bolus"):
        payload["volume"] = draw(st.sampled_from([-1, 0, 1, 60_000, 250_000, ML, 30 * ML]))
    if kind == "clinician_bolus":
        payload["rate"] = draw(st.sampled_from([0, ML_H, 100 * ML_H]))
        payload["duration_ms"] = draw(st.sampled_from([0, 1_000, 36_000]))
    if kind in ("battery",):
        payload["level"] = draw(st.sampled_from([-1, 0, 4, 14, 100]))
    if kind == "temperature":
        payload["level"] = draw(st.sampled_from([-50, 90, 250, 460, 550, 999]))
    if kind in ("occlusion", "occlusion_clear"):
        payload["site"] = draw(st.integers(-1, 2))
    if kind in ("self_test", "prime", "reservoir", "battery"):
        payload["flag"] = draw(st.booleans())
    return ev(kind, actor, **payload)  # type: ignore[arg-type]
