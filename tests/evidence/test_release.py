"""Release notes for a tagged version: the tag at HEAD, what an annotated tag records, and every
reason a build is not that release (a tag that does not name the version, a lightweight tag,
uncommitted changes). Run on a throw-away git repository, never on the project's own tags.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from pumpctl.proofs.evidence import iec62304
from pumpctl.proofs.evidence.collect import _git
from pumpctl.proofs.evidence.render import render_html
from tests.evidence.conftest import words
from tests.evidence.sample import build

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git not installed")
ENV = {**os.environ, "GIT_AUTHOR_NAME": "Release Manager", "GIT_AUTHOR_EMAIL": "rm@example.org",
       "GIT_COMMITTER_NAME": "Release Manager", "GIT_COMMITTER_EMAIL": "rm@example.org",
       "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, env=ENV, capture_output=True, text=True, check=True,
                          timeout=60).stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    git(tmp_path, "init", "-q")
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "pumpctl"\nversion = "0.2.0"\n')
    git(tmp_path, "add", "pyproject.toml")
    git(tmp_path, "commit", "-q", "-m", "release 0.2.0")
    return tmp_path


def test_an_annotated_tag_at_head_titles_the_release_notes(repo: Path) -> None:
    git(repo, "tag", "-a", "v0.2.0", "-m", "pumpctl 0.2.0: first release with residual anomalies listed")
    facts = _git(repo)  # what pumpctl verify records
    assert facts["tag"] == "v0.2.0" and not facts["dirty"] and facts["commit"] == git(repo, "rev-parse", "HEAD")
    rel = iec62304.release(facts, repo)
    assert rel["title"] == "pumpctl 0.2.0 (tag v0.2.0)"
    assert rel["tag_facts"]["annotated"] and rel["tag_facts"]["tagger"] == "Release Manager <rm@example.org>"
    assert rel["tag_facts"]["message"] == "pumpctl 0.2.0: first release with residual anomalies listed"
    assert rel["tag_facts"]["date"][:4].isdigit()
    problems = [p for p in rel["problems"] if "installed pumpctl metadata" not in p]  # the venv's own install
    assert problems == []


def test_every_way_a_build_is_not_the_tagged_release_is_said(repo: Path) -> None:
    git(repo, "tag", "v0.3.0")  # lightweight, and not the version of pyproject.toml
    (repo / "pyproject.toml").write_text('[project]\nname = "pumpctl"\nversion = "0.2.0"\n# edited\n')
    facts = _git(repo)
    assert facts["tag"] == "v0.3.0" and facts["dirty"]
    rel = iec62304.release(facts, repo)
    assert rel["title"] == "pumpctl 0.2.0 (tag v0.3.0, with uncommitted changes)" and not rel["tagged_release"]
    text = " ".join(rel["problems"])
    assert "v0.3.0 does not name the version 0.2.0" in text
    assert "lightweight tag" in text and "uncommitted changes" in text
    untagged = iec62304.release(_git(repo) | {"tag": None, "dirty": False}, repo)
    assert untagged["title"].startswith("pumpctl 0.2.0, untagged build at ") and not untagged["tagged_release"]


def test_the_report_prints_the_tag_and_its_message(tmp_path: Path, repo: Path) -> None:
    git(repo, "tag", "-a", "v0.2.0", "-m", "pumpctl 0.2.0 & friends")
    evidence: dict[str, Any] = build(None)
    evidence["environment"]["records"]["release"] = iec62304.release(_git(repo), repo) | {"problems": []} \
        | {"tagged_release": True}
    out = tmp_path / "out"
    out.mkdir()
    html = render_html(evidence, out).read_text()
    section = words(html[html.index('id="iec62304"'): html.index('id="security"')])
    assert "Release notes: pumpctl 0.2.0 (tag v0.2.0)" in section
    assert "tagged release Tag v0.2.0, annotated by Release Manager <rm@example.org>" in section
    assert "pumpctl 0.2.0 & friends" in section
