"""REQ-SEC-001/002 end to end through the CLI: a corrupt, unsigned (with a key), stale library
or an unknown drug keeps the pump stopped - the program never reaches the core - raises the
gate's ``drug_library`` alarm and is logged; a good one is logged with the entry used.

``pumpctl simulate`` (a scenario with ``library = "lib.toml"``, ``library_key``,
``library_today``) and ``pumpctl run --library FILE --key K`` against the NE-1000 emulator.
"""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from controller.cli import main
from controller.drivers.ne1000.emulator import EmulatorServer
from controller.library.sign import sign_file
from controller.log.eventlog import EventLog
from tests.store.helpers import EXAMPLE, HMAC_KEY_FILE, example_key

SCENARIO = """name = "library gate: {case}"
duration_s = 20
control_period_ms = 500
library = "lib.toml"
library_key = "pharmacy.key"
library_today = {today}

[[event]]
at_s = 1
type = "program"
drug = "{drug}"
dose = 1
dose_unit = "mg/h"
vtbi_ml = 20

[[event]]
at_s = 2
type = "start"

[expect]
final_state = "{final}"
{alarms} = ["drug_library"]
"""
PROGRAM = 'drug = "{drug}"\ndose = 1\ndose_unit = "mg/h"\nvtbi_ml = 20\nreservoir_ml = 30\n'
CASES = {  # case: (how the library is spoiled, drug, refusal codes)
    "good": ("", "morphine", ()),
    "corrupt": ("corrupt", "morphine", ("corrupt", "no_library")),
    "unsigned": ("unsigned", "morphine", ("unsigned", "no_library")),
    "stale": ("stale", "morphine", ("expired", "no_library")),
    "unknown drug": ("", "unobtainium", ("unknown_drug",)),
}


def spoil(lib: Path, how: str) -> None:
    if how == "corrupt":  # content changed after signing: the digest no longer matches
        lib.write_text(lib.read_text().replace("hard_max = 4 }", "hard_max = 40 }"))
    elif how == "unsigned":  # sealed (digest) but no signature, while the pump has a key
        sign_file(lib, None)


def library_log(db: Path) -> dict[str, list[dict[str, object]]]:
    log = EventLog(db)
    try:
        assert log.verify().ok
        out: dict[str, list[dict[str, object]]] = {}
        for r in log.records():
            out.setdefault(r.kind, []).append(r.payload)
        return out
    finally:
        log.close()


def check_logged(db: Path, refused: tuple[str, ...]) -> None:
    kinds = library_log(db)
    if not refused:
        (checked,) = kinds["program_checked"]
        assert checked["entry"]["drug"] == "morphine"  # type: ignore[index]
        assert str(checked["identity"]).startswith("Example general ward and ICU v2026.11-1")  # REQ-SEC-002
        assert "drug_library" not in [a["alarm"] for a in kinds.get("alarm_raised", [])]
        return
    codes = [p["code"] for k in ("library_rejected", "program_refused") for p in kinds.get(k, [])]
    assert codes == list(refused)
    assert [a for a in kinds["alarm_raised"] if a["alarm"] == "drug_library"] == [
        {"alarm": "drug_library", "priority": "medium"}]  # raised once, and logged
    assert not [e for e in kinds.get("event_accepted", []) if e["event"]["kind"] == "program"]  # type: ignore[index]


@pytest.mark.req("REQ-SEC-001", "REQ-SEC-002", "REQ-LOG-001")
@pytest.mark.parametrize("case", CASES)
def test_simulate_with_a_library_file(case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    how, drug, refused = CASES[case]
    lib = tmp_path / "lib.toml"
    shutil.copyfile(EXAMPLE, lib)
    shutil.copyfile(HMAC_KEY_FILE, tmp_path / "pharmacy.key")
    spoil(lib, how)
    scenario = tmp_path / "s.toml"
    scenario.write_text(SCENARIO.format(case=case, today="2028-01-15" if how == "stale" else "2027-01-15", drug=drug,
                                        final="RUNNING" if not refused else "IDLE",
                                        alarms="not_alarms" if not refused else "alarms"))
    db = tmp_path / "log.db"
    assert main(["simulate", str(scenario), "--log", str(db)]) == 0, capsys.readouterr().out
    out = capsys.readouterr().out
    for code in refused:
        assert f"{code}:" in out
    check_logged(db, refused)


def dated_library(dst: Path, issued: datetime, expires: datetime) -> Path:
    text = EXAMPLE.read_text().replace("issued = 2026-11-01", f"issued = {issued.date().isoformat()}")
    dst.write_text(text.replace("expires = 2027-11-01", f"expires = {expires.date().isoformat()}"))
    sign_file(dst, example_key())
    return dst


@pytest.mark.req("REQ-SEC-001", "REQ-SEC-002", "REQ-LOG-001")
@pytest.mark.parametrize("case", CASES)
def test_run_with_a_library_file(case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    how, drug, refused = CASES[case]
    now = datetime.now(UTC)
    if how == "stale":
        lib = dated_library(tmp_path / "lib.toml", now - timedelta(days=400), now - timedelta(days=2))
    else:  # valid today, whatever day the test runs
        lib = dated_library(tmp_path / "lib.toml", now - timedelta(days=2), now + timedelta(days=300))
    spoil(lib, how)
    program, db = tmp_path / "p.toml", tmp_path / "log.db"
    program.write_text(PROGRAM.format(drug=drug))
    with EmulatorServer() as emu:
        rc = main(["run", "--port", emu.port, "--program", str(program), "--library", str(lib), "--key",
                   str(HMAC_KEY_FILE), "--log", str(db), "--period-ms", "50", "--duration", "0.5",
                   "--print-every", "5"])
        captured = capsys.readouterr()
        truth = emu.truth()
    if refused:
        assert rc == 1 and "ALARM drug_library (medium)" in captured.err and "the pump stays stopped" in captured.err
        assert truth.infused_ul == 0 and not truth.moving
    else:
        assert rc == 0 and "Drug library: Example general ward and ICU" in captured.out
        assert truth.infused_ul > 0 and not truth.moving
    check_logged(db, refused)
