"""PNG plots for scenario runs and the bench (matplotlib, imported here only).

Theory of operation
-------------------
``plot_scenario``: three stacked panels sharing the time axis - commanded rate with the
controller state, volume (delivered to the patient vs accounted by the core), and line
pressure (true and sensed) with the static threshold; every alarm is a vertical line.
``plot_accuracy``: per rate, the start-up curve (first hour) and the trumpet curve (second
hour). ``plot_occlusion``: the pressure after each occlusion, per condition.

Rules
1. The non-interactive Agg backend: plots work on a headless CI machine.
2. Plotting never changes a result; it only reads it.
"""

from __future__ import annotations

from typing import Any

from controller.bench.procedures import AccuracyRun, OcclusionRun
from controller.scenario.model import Scenario
from controller.scenario.run import Result

ALARM_COLOURS = {"high": "tab:red", "medium": "tab:orange", "low": "tab:cyan"}


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_scenario(sc: Scenario, res: Result, path: str) -> None:
    plt = _plt()
    t = [s[0] for s in res.samples]
    unit, scale = ("min", 60.0) if (t[-1] if t else 0) > 1200 else ("s", 1.0)
    ts = [x / scale for x in t]
    fig, (ax1, ax2, ax3) = plt.subplots(3, 1, sharex=True, figsize=(11, 8))
    ax1.step(ts, [s[2] for s in res.samples], where="post", color="tab:blue")
    ax1.set_ylabel("commanded rate (mL/h)")
    states = [s[1] for s in res.samples]
    for i, st in enumerate(states):
        if i == 0 or st != states[i - 1]:
            ax1.annotate(st, (ts[i], 0), xytext=(2, 2), textcoords="offset points", fontsize=7, rotation=90,
                         va="bottom", color="grey")
    ax2.plot(ts, [s[3] for s in res.samples], label="delivered to patient (truth)")
    ax2.plot(ts, [s[4] for s in res.samples], "--", label="accounted by the core")
    ax2.set_ylabel("volume (mL)")
    ax2.legend(loc="upper left", fontsize=8)
    ax3.plot(ts, [s[5] for s in res.samples], label="line pressure (truth)")
    ax3.plot(ts, [s[6] if s[6] is not None and s[6] == s[6] else float("nan") for s in res.samples], ".",
             markersize=2, label="sensed")
    ax3.axhline(sc.sensing.occlusion_threshold_kpa, color="tab:red", linestyle=":", label="static threshold")
    ax3.set_ylabel("pressure (kPa)")
    ax3.set_xlabel(f"time ({unit})")
    ax3.legend(loc="upper left", fontsize=8)
    for a in res.alarms:
        x = a.at_ms / 1000 / scale
        for ax in (ax1, ax2, ax3):
            ax.axvline(x, color=ALARM_COLOURS.get(a.priority, "k"), alpha=0.6, linewidth=1)
        ax1.annotate(a.alarm, (x, 1.0), xycoords=("data", "axes fraction"), fontsize=7, rotation=90, va="top",
                     color=ALARM_COLOURS.get(a.priority, "k"))
    fig.suptitle(f"{res.name} (seed {res.seed}, period {res.control_period_ms} ms): final {res.final_state}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_accuracy(runs: list[AccuracyRun], path: str) -> None:
    plt = _plt()
    fig, axes = plt.subplots(len(runs), 2, figsize=(12, 3.2 * len(runs)), squeeze=False)
    for row, r in zip(axes, runs, strict=True):
        ax, bx = row
        n = len(r.t_min) // 2
        ax.plot(r.t_min[:n], r.flow_ml_h[:n], drawstyle="steps-post")
        ax.axhline(r.rate_ml_h, color="k", linestyle=":")
        ax.set_title(f"start-up curve, {r.rate_ml_h:g} mL/h")
        ax.set_xlabel("time (min)")
        ax.set_ylabel("flow (mL/h)")
        bx.plot(r.windows_min, r.ep_max, "o-", label="Ep max")
        bx.plot(r.windows_min, r.ep_min, "o-", label="Ep min")
        bx.axhline(r.mean_error_pct, color="k", linestyle="--", label=f"A = {r.mean_error_pct:+.2f} %")
        bx.set_title(f"trumpet curve (second hour), {r.rate_ml_h:g} mL/h")
        bx.set_xlabel("observation window (min)")
        bx.set_ylabel("error (%)")
        bx.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_occlusion(runs: list[OcclusionRun], path: str) -> None:
    plt = _plt()
    rates = sorted({r.rate_ml_h for r in runs})
    fig, axes = plt.subplots(len(rates), 1, figsize=(11, 3.6 * len(rates)), squeeze=False)
    for ax, rate in zip(axes[:, 0], rates, strict=True):
        for r in (r for r in runs if r.rate_ml_h == rate):
            style = "-" if r.detector == "static" else "--"
            ax.plot([p[0] / 60 for p in r.trace], [p[1] for p in r.trace], style,
                    label=f"{r.threshold_kpa:.0f} kPa, {r.detector}: bolus {r.bolus_ml:.3f} mL")
            ax.axhline(r.threshold_kpa, color="grey", linestyle=":", linewidth=0.8)
        ax.set_title(f"downstream occlusion at {rate:g} mL/h (t = 0: stopcock closed)")
        ax.set_xlabel("time since occlusion (min)")
        ax.set_ylabel("line pressure (kPa)")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
