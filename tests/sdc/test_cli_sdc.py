"""``pumpctl sdc``: typed errors for bad arguments, and serve + probe end to end on 127.0.0.1."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from controller.cli import main
from controller.sdc.tls import Pki, make_pki


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


def _serve_args(pki: Pki, log: Path, *extra: str) -> list[str]:
    return ["sdc", "serve", "--cert", str(pki.pump[0]), "--key", str(pki.pump[1]), "--ca", str(pki.ca),
            "--roles", str(pki.roles), "--log", str(log), *extra]


@pytest.mark.parametrize(("extra", "field"), [
    (["--period-ms", "5"], "--period-ms"), (["--port", "70000"], "--port"), (["--duration", "-1"], "--duration"),
    (["--discovery", "eth0", "--address", "10.0.0.1"], "--address"), (["--library-key", "k"], "--library-key"),
    (["--epr", "not-a-uuid"], "--epr"),
    (["--driver", "harvard"], "--driver"), (["--diameter", "14.5"], "--diameter"),  # only with --serial
    (["--serial", "/dev/null", "--driver", "baxter"], "--driver"),
    (["--serial", "/dev/null", "--driver", "harvard", "--safe-timeout", "2"], "--safe-timeout"),
    (["--serial", "/dev/null", "--leg-s", "2"], "--leg-s"),  # a Harvard option, the default driver is ne1000
])
def test_bad_serve_options_exit_2_naming_the_option(pki: Pki, tmp_path: Path, extra: list[str], field: str,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("sdc11073")
    assert main(_serve_args(pki, tmp_path / "log.db", *extra)) == 2
    err = capsys.readouterr().err
    assert err.startswith("pumpctl sdc: ") and field in err and "Traceback" not in err
    assert not (tmp_path / "log.db").exists()  # nothing was started


@pytest.mark.req("REQ-SEC-005", "REQ-ROL-001")
def test_a_role_map_granting_patient_is_refused(pki: Pki, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("sdc11073")
    roles = tmp_path / "roles.toml"
    roles.write_text('[[client]]\nsubject_cn = "bed-7"\nrole = "patient"\n', encoding="utf-8")
    args = _serve_args(pki, tmp_path / "log.db")
    args[args.index("--roles") + 1] = str(roles)
    assert main(args) == 2
    assert "client[0].role" in capsys.readouterr().err


def test_serve_then_probe_on_loopback(pki: Pki, tmp_path: Path) -> None:
    pytest.importorskip("sdc11073")
    log = tmp_path / "log.db"
    prog = tmp_path / "program.toml"
    prog.write_text("rate_ml_h = 25\nvtbi_ml = 100\n", encoding="utf-8")
    cmd = [sys.executable, "-m", "controller.cli", *_serve_args(pki, log, "--program", str(prog), "--duration", "20")]
    server = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        url = server.stdout.readline().strip()
        assert url.startswith("https://127.0.0.1:"), server.stderr.read() if server.stderr else ""
        probe = subprocess.run([sys.executable, "-m", "controller.cli", "sdc", "probe", url, "--cert",
                                str(pki.monitor[0]), "--key", str(pki.monitor[1]), "--ca", str(pki.ca)],
                               capture_output=True, text=True, timeout=60)
        assert probe.returncode == 0, probe.stderr
        assert "state: READY" in probe.stdout and "programmed rate: 25" in probe.stdout
        assert "alarms: none" in probe.stdout
        bad = subprocess.run([sys.executable, "-m", "controller.cli", "sdc", "probe", url, "--cert",
                              str(pki.self_signed[0]), "--key", str(pki.self_signed[1]), "--ca", str(pki.ca)],
                             capture_output=True, text=True, timeout=60)
        assert bad.returncode == 1 and "cannot connect" in bad.stderr
    finally:
        server.terminate()  # SIGTERM: the pump is stopped and the log closed
        server.wait(timeout=30)
    time.sleep(0.1)
    shown = subprocess.run([sys.executable, "-m", "controller.cli", "log", "show", str(log)], capture_output=True,
                           text=True, timeout=60)
    assert "tls_rejected" in shown.stdout and "program_checked" in shown.stdout
