"""The generated mutation campaign (proofs/mutagen.py): stable sites, a deterministic stratified
sample, a mutant that is really installed and really undone, a battery kill, and the CLI's errors."""

from __future__ import annotations

import subprocess
import sys

from controller.core import guards
from controller.core.events import tick
from controller.core.state import initial_vars
from pumpctl.proofs import mutagen


def test_sites_are_unique_and_cover_every_target_module() -> None:
    sites = mutagen.sites()
    ids = [s.id for s in sites]
    assert len(ids) == len(set(ids)) and len(ids) >= 60
    assert {s.module for s in sites} == set(mutagen.TARGETS)


def test_the_sample_is_deterministic_and_stratified() -> None:
    a, b = mutagen.sample(14), mutagen.sample(14)
    assert a == b and len(a) == 14
    by_id = {s.id: s.module for s in mutagen.sites()}
    assert {by_id[i] for i in a} == set(mutagen.TARGETS)  # every module is in a sample of twice their number


def test_a_mutant_is_installed_for_every_caller_and_undone() -> None:
    site = next(s for s in mutagen.sites() if s.id == "guards.tick_ok:off-by-one:e.dt_ms >= 1")
    v, e = initial_vars(), tick(1)
    assert guards.tick_ok.pred(v, e, "RUNNING")
    undo = mutagen.apply(site)
    try:
        assert not guards.tick_ok.pred(v, e, "RUNNING")  # dt 1 is now refused
    finally:
        undo()
    assert guards.tick_ok.pred(v, e, "RUNNING")


def test_the_battery_kills_a_real_mutant() -> None:
    out = mutagen.judge("guards.tick_ok_or_quiet:off-by-one:dt >= 1")
    assert out.verdict == "killed-by-test" and out.by


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "controller.cli", "mutate", *args], capture_output=True, text=True,
                          timeout=120)


def test_cli_errors_name_the_option() -> None:
    r = _cli("--sample", "3")
    assert r.returncode == 2 and "--sample = 3 is not allowed; allowed: only with --generated" in r.stderr
    r = _cli("--generated", "--sample", "0")
    assert r.returncode == 2 and "--sample = 0 is not allowed; allowed: 1 to" in r.stderr
    r = _cli("--generated", "--only", "nope")
    assert r.returncode == 2 and "--only = 'nope' is not allowed; allowed: a generated site id" in r.stderr
    assert "" == r.stdout
    r = _cli("--generated", "--sample", "5", "--list")
    assert r.returncode == 0 and r.stdout.strip().endswith(f"5 of {len(mutagen.sites())} sites")
