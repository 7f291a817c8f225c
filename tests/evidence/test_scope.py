"""What the proofs cover, package by package: every controller module described, on a dot boundary.

The real layout is read from the code (``layout.scan``) and the descriptions from
``specs/scope.toml``: a new module or package that nobody describes fails here, before a reviewer
finds it under "not described" in the report.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from pumpctl.proofs.evidence import iec62304, layout, scope

PACKAGES = ["core", "root", "clinical", "sensing", "plant", "drivers", "log", "library", "runtime", "scenario",
            "bench", "campaign", "sdc", "cli"]


@pytest.fixture(scope="module")
def real() -> tuple[dict[str, Any], dict[str, Any]]:
    return layout.scan(), scope.read_scope()


def test_every_controller_module_is_described_exactly_once(real: tuple[dict[str, Any], dict[str, Any]]) -> None:
    lay, data = real
    sec = scope.section({}, {}, lay, data)
    assert sec["outside_unlisted"] == []
    assert sec["described_twice"] == []
    rows = {o["part"]: o for o in sec["outside"]}
    assert list(rows) == PACKAGES
    for o in rows.values():  # what is proved and what is not, said for every package
        assert o["what"] and o["proved"] and o["not_proved"] and o["covered_by"], o["part"]
    # the proved modules are found from the code, not typed: the core's, and controller.errors
    assert rows["core"]["proved_count"] >= 15 and rows["root"]["proved_count"] == 1
    assert "controller.core.diagram" in rows["core"]["present"]
    assert "controller.core.table" not in rows["core"]["present"]
    assert "controller.clinical.programs" in rows["clinical"]["present"]
    assert "controller.clinical.programs" not in rows["cli"]["present"]


def test_a_new_module_nobody_describes_is_listed(real: tuple[dict[str, Any], dict[str, Any]]) -> None:
    lay, data = real
    grown = copy.deepcopy(lay)
    info = {"path": "x.py", "lines": 1, "doc": "", "imports": [], "soup": [], "proved": False}
    for name in ("controller.telemetry", "controller.telemetry.push", "controller.clinicalx", "controller.sdcx.y"):
        grown["modules"][name] = dict(info)
    sec = scope.section({}, {}, grown, data)
    assert sec["outside_unlisted"] == ["controller.clinicalx", "controller.sdcx.y", "controller.telemetry",
                                       "controller.telemetry.push"]
    twice = copy.deepcopy(data)
    twice["package"][0]["modules"].append("controller.cli.verify")
    assert scope.section({}, {}, lay, twice)["described_twice"] == ["controller.cli.verify (cli, core)"]


def test_prefixes_match_on_a_dot_boundary() -> None:
    assert layout.owns("controller.cli", "controller.cli") and layout.owns("controller.cli", "controller.cli.verify")
    assert not layout.owns("controller.cli", "controller.clinical")
    assert not layout.owns("controller.cli", "controller.clinical.programs")
    parts = [("cli", ("controller.cli",)), ("clinical", ("controller.clinical",)), ("drivers", ("controller.drivers",)),
             ("harvard", ("controller.drivers.harvard",))]
    assert layout.item_of("controller.clinical.doses", parts) == "clinical"
    assert layout.item_of("controller.cli.sdc", parts) == "cli"
    assert layout.item_of("controller.drivers.harvard.link", parts) == "harvard"  # the longest owner wins
    assert layout.item_of("controller.drivers.sim", parts) == "drivers"
    assert layout.item_of("controller.other", parts) == "controller.other"  # nobody's: its own item, never hidden


def test_the_architecture_has_one_software_item_per_package(real: tuple[dict[str, Any], dict[str, Any]]) -> None:
    lay, data = real
    rec = iec62304.records({}, lay, data, scope.section({}, {}, lay, data))
    items = {i["item"]: i for i in rec["architecture"]["items"]}
    assert list(items) == [*PACKAGES, "specs", "proofs"]
    assert "controller" in items["core"]["modules"]  # the facade goes with the core it re-exports
    assert items["core"]["proved"] == sum(bool(i["proved"]) for m, i in lay["modules"].items()
                                          if m.startswith("controller.core"))
    assert all(m.startswith("controller.sdc") for m in items["sdc"]["modules"])
    assert "sdc11073" in items["sdc"]["soup"]
    assert not items["scenario"]["runtime"] and items["sdc"]["runtime"] and not items["proofs"]["runtime"]
    assert "proofs.evidence.layout" in items["proofs"]["modules"]
    # the configuration items follow the software items
    assert {"core", "sdc", "cli"} <= {c["item"] for c in rec["configuration"]["items"]}


@pytest.mark.parametrize(("nodeid", "simulated"), [
    ("tests.sdc.test_network::test_a_client_without_a_certificate_is_refused", True),  # as JUnit gives it
    ("tests/sdc/test_session.py::test_x", True),
    ("tests.drivers.test_harvard_driver::test_x", True),
    ("tests.sdcx.test_y::test_z", False),
    ("tests.test_core_examples::test_sdc", False),
])
def test_the_sdc_tests_are_labelled_simulated(real: tuple[dict[str, Any], dict[str, Any]], nodeid: str,
                                              simulated: bool) -> None:
    strength, where = scope.label({"type": "test", "id": nodeid, "verdict": "pass"}, {}, real[1])
    assert (strength == "simulated") == simulated, (strength, where)
    if simulated and ".sdc" in nodeid.replace("/", "."):
        assert "simulated SDC session" in where
