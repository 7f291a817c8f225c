"""The import rule (tests/import_rule.py, docs/architecture.md) holds for the whole house, and the
check fails on an upward import or a cycle planted in a small copy of the layout."""

from __future__ import annotations

from pathlib import Path

from tests import import_rule as R

ROOT = Path(__file__).resolve().parent.parent


def test_no_upward_import_and_no_cycle_between_packages() -> None:
    edges = R.graph(ROOT)
    assert len(edges) > 100, "the graph reads the whole house"
    assert R.violations(edges) == []
    assert R.package_cycles(edges) == []


def test_every_controller_package_is_placed_in_a_layer() -> None:
    placed = {f"controller.{layer}" for layer in R.LAYERS}
    found = {R.package(m) for m in R.graph(ROOT) if m.startswith("controller")}
    assert found <= placed, f"packages outside the layers: {sorted(found - placed)}"


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    for top in R.PACKAGES:
        (tmp_path / top).mkdir(exist_ok=True)
    return tmp_path


def test_an_upward_import_is_caught(tmp_path: Path) -> None:
    root = _tree(tmp_path, {
        "controller/__init__.py": "",
        "controller/core/__init__.py": "",
        "controller/core/guards.py": "def f():\n    from controller.log import db  # a lazy import counts too\n",
        "controller/log/__init__.py": "",
        "controller/log/db.py": "from controller.core import guards\n",
        "specs/__init__.py": "from pumpctl.proofs import engine\n",
        "proofs/__init__.py": "",
        "proofs/engine.py": "import controller.cli\n",
        "controller/cli/__init__.py": "",
    })
    edges = R.graph(root)
    assert R.violations(edges) == [("controller.core.guards", "controller.log.db"), ("proofs.engine", "controller.cli"),
                                   ("specs", "proofs.engine")]
    assert R.package_cycles(edges) == [["controller.core", "controller.log"]]


def test_the_figures_are_counted(tmp_path: Path) -> None:
    root = _tree(tmp_path, {
        "controller/__init__.py": "",
        "controller/core/__init__.py": "",
        "controller/core/a.py": "from controller.core import b\n",
        "controller/core/b.py": "from controller.errors import PumpError\n",
        "controller/errors.py": "",
    })
    f = R.figures(root)
    assert (f.modules, f.arrows, f.floors, f.upward, f.package_cycles) == (5, 2, 3, 0, 0)


def test_specs_and_proofs_are_imported_by_their_installed_names_only(tmp_path: Path) -> None:
    """The wheel installs specs/ and proofs/ as pumpctl.specs and pumpctl.proofs (no generic
    top-level names in site-packages); pumpctl/specs and pumpctl/proofs link them in a checkout."""
    assert R.bare_imports(ROOT) == []
    assert (ROOT / "pumpctl" / "specs").resolve() == ROOT / "specs"
    assert (ROOT / "pumpctl" / "proofs").resolve() == ROOT / "proofs"
    root = _tree(tmp_path, {"controller/__init__.py": "", "specs/__init__.py": "", "proofs/__init__.py": "",
                            "controller/cli.py": "from proofs import engine\nimport pumpctl.specs\n"})
    assert R.bare_imports(root) == [("controller.cli", "proofs")]


def test_the_wheel_installs_controller_and_pumpctl_only() -> None:
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert project["tool"]["setuptools"]["packages"]["find"]["include"] == ["controller*", "pumpctl*"]
    assert set(project["tool"]["setuptools"]["package-data"]) == {"controller", "pumpctl.specs", "pumpctl.proofs"}
