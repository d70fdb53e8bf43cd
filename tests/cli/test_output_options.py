"""The global output options: -q, -v (repeatable), --no-color / NO_COLOR, shell completion."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from inspectorctl.cli import _common
from inspectorctl.cli.main import app
from tests.fixtures import snapshot_dict, write_mini

runner = CliRunner()
#: the installed command (beside this interpreter)
SCRIPT = str(Path(sys.executable).parent / "inspectorctl")


@pytest.fixture(autouse=True)
def _env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INSPECTORCTL_DB", str(tmp_path / "findings.db"))
    monkeypatch.setenv("COLUMNS", "100")
    monkeypatch.setattr(_common.Verbosity, "level", 0)  # restored after each test


def _assess(tmp_path: Path, *global_opts: str, extra: tuple[str, ...] = ()
            ) -> tuple[int, str, str]:
    pack, snaps = write_mini(tmp_path, {"h": snapshot_dict("h", tries="6")})
    res = runner.invoke(app, [*global_opts, "assess", "--pack", str(pack), "--from-snapshots",
                              str(snaps), "--fail-on", "medium", "--no-vulns", *extra])
    return res.exit_code, res.stdout, res.stderr


def test_quiet_keeps_errors_and_the_output(tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    code, stdout, stderr = _assess(tmp_path, extra=("-f", "json", "-o", str(out)))
    assert code == 1
    assert stderr.splitlines()[0] == f"wrote {out}"
    code, stdout, q_stderr = _assess(tmp_path, "-q", extra=("-f", "json", "-o", str(out)))
    assert (code, stdout) == (1, "")
    assert out.is_file()
    # the info line is gone, the --fail-on reason (an error) stays
    assert q_stderr.splitlines() == stderr.splitlines()[1:]
    assert q_stderr.startswith("--fail-on medium: 1 FAIL result(s)")
    # the output asked for is printed as without -q
    code, stdout, _ = _assess(tmp_path, "--quiet", extra=("-f", "json"))
    assert stdout.startswith("{\n")


def test_verbose_says_what_is_done_with_timings(tmp_path: Path) -> None:
    code, _, stderr = _assess(tmp_path, "-v")
    assert code == 1
    lines = stderr.splitlines()
    assert re.fullmatch(r"\[ +\d+\.\d\ds\] assess: 3 rule\(s\) of 1 pack\(s\), snapshots "
                        r"from .*snaps", lines[0]), lines
    assert re.fullmatch(r"\[ +\d+\.\d\ds\] timings: load_rules \d+\.\d\d s, collect .*"
                        r"total \d+\.\d\d s", lines[1]), lines
    # without -v none of it
    _, _, plain = _assess(tmp_path)
    assert not any(line.startswith("[") for line in plain.splitlines())


def test_verbose_counts_and_contradicts_quiet(tmp_path: Path) -> None:
    runner.invoke(app, ["-vv", "config", "show"])
    assert _common.Verbosity.level == 2
    res = runner.invoke(app, ["-q", "-v", "runs", "list"])
    assert (res.exit_code, res.stdout, res.stderr) == (
        2, "", "error: -q/--quiet and -v/--verbose contradict each other: give one\n")


def test_verbose_collection_is_a_line_per_host_event(capsys: pytest.CaptureFixture[str]
                                                     ) -> None:
    from inspectorctl.cli.assess import progress_bar

    _common.Verbosity.level = 1
    with progress_bar(True) as cb:
        assert cb is not None
        cb("web-1", "started")
        cb("web-1", "unreachable")
    lines = capsys.readouterr().err.splitlines()
    assert [re.sub(r"^\[ +\d+\.\d\ds\] ", "", line) for line in lines] == [
        "collect: web-1: started", "collect: web-1: unreachable"]
    _common.Verbosity.level = -1
    with progress_bar(True) as cb:
        assert cb is None  # -q: no progress at all


@pytest.mark.parametrize(("args", "env"), [(["--no-color"], {}), ([], {"NO_COLOR": "1"})])
def test_no_color(tmp_path: Path, args: list[str], env: dict[str, str]) -> None:
    """A run on a (forced) colour terminal has colour escapes; --no-color or NO_COLOR none."""
    pack, snaps = write_mini(tmp_path, {"h": snapshot_dict("h", tries="6")})
    base = [SCRIPT, *args, "assess", "--pack", str(pack),
            "--from-snapshots", str(snaps), "--db", str(tmp_path / "c.db")]
    clean = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    colour = subprocess.run([base[0], *base[1 + len(args):]], capture_output=True, text=True,
                            env={**clean, "FORCE_COLOR": "1", "TERM": "xterm-256color"},
                            check=False)
    assert re.search(r"\x1b\[[0-9;]*3[0-9]m", colour.stdout), colour.stdout
    plain = subprocess.run(base, capture_output=True, text=True, check=False,
                           env={**clean, "FORCE_COLOR": "1", "TERM": "xterm-256color", **env})
    assert plain.returncode == colour.returncode == 0, plain.stderr
    assert not re.search(r"\x1b\[[0-9;]*3[0-9]m", plain.stdout), plain.stdout
    assert "mini-ssh-tries" in plain.stdout


def test_completion_is_enabled() -> None:
    res = runner.invoke(app, ["--show-completion", "bash"])
    assert res.exit_code == 0
    assert "_INSPECTORCTL_COMPLETE=complete_bash" in res.stdout
    done = subprocess.run([SCRIPT], capture_output=True,
                          text=True, check=False,
                          env={**os.environ, "_INSPECTORCTL_COMPLETE": "complete_bash",
                               "COMP_WORDS": "inspectorctl findings li", "COMP_CWORD": "2"})
    assert (done.returncode, done.stdout) == (0, "list\n")
