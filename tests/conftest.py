"""Session-wide fixtures: the shared lab, and the guard that the real machine stays unchanged.

``lab`` brings up ONE lab for the whole session, in a temporary state dir with a netns prefix
of its own (so it never meets a user's lab), with these hosts:

- ``weak-1`` (weak), ``hardened-1`` (hardened), ``baseline-1`` (baseline): leave them as
  they are, other tests read them;
- ``remed-1``, ``remed-2`` (weak): for remediation tests, which change them;
- ``mol-1`` (weak): for molecule scenarios, which change it.

Tests that need a host of their own call ``lab.up(...)`` with a name prefix of their own. The
inventory is ``lab.inventory_path`` (also the ``lab_inventory`` fixture). The lab is torn down at
the end of the session, and the teardown checks that nothing of it is left on the machine.

``ssm_endpoint`` serves the lab's SSM endpoint (and its S3) for the session, its managed
instances being the session lab's hosts: an :class:`inspectorctl.lab.ssm.EndpointInfo` with
``.url``, ``.s3_url``, ``.region`` and ``.client("ssm" | "s3")``. It checks every response it
sends against botocore's output shape (a response that does not fit is an InternalServerError).

Without root, namespaces or overlayfs the lab fixtures skip with the reason; under CI (``CI``
set) they fail instead, since CI must run them.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from inspectorctl.lab import Lab, LabRequirementError, check_requirements
from inspectorctl.lab.ssm import EndpointInfo, start_endpoint, stop_endpoint

# Speed is measured in benchmarks, never asserted in tests: hypothesis' timing health checks and
# per-example deadlines would make property tests fail on a busy 2-core machine.
settings.register_profile(
    "inspectorctl",
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile("inspectorctl")

#: the configuration's variables (INSPECTORCTL_DB aside, which tests set as they need)
CONFIG_VARIABLES = ("INSPECTORCTL_CONFIG", "INSPECTORCTL_INVENTORY", "INSPECTORCTL_PACKS",
                    "INSPECTORCTL_TAILORING", "INSPECTORCTL_FORMAT", "INSPECTORCTL_FAIL_ON",
                    "INSPECTORCTL_BECOME", "INSPECTORCTL_FORKS", "INSPECTORCTL_IGNORE_FILE",
                    "NO_COLOR")


@pytest.fixture(autouse=True)
def _no_user_configuration(tmp_path_factory: pytest.TempPathFactory,
                           monkeypatch: pytest.MonkeyPatch) -> None:
    """No test reads the developer's configuration: the user config dir is an empty one of
    the session's and the configuration's variables are unset (a test that wants them sets
    them). An ``inspectorctl.toml`` in the directory pytest runs from would still be read:
    the tests refuse to run with one there."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path_factory.getbasetemp() / "xdg-config"))
    for name in CONFIG_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    if Path("inspectorctl.toml").exists():
        pytest.fail("an inspectorctl.toml in the working directory would configure the "
                    "tests: run pytest from elsewhere or move it aside")


#: what the lab must never change on the machine
GUARDED_TREES = (Path("/etc"), Path("/root/.ssh"))

#: session lab hosts: name prefix -> (count, profiles)
SESSION_HOSTS: dict[str, tuple[int, list[str]]] = {
    "weak": (1, ["weak"]),
    "hardened": (1, ["hardened"]),
    "baseline": (1, ["baseline"]),
    "remed": (2, ["weak"]),
    "mol": (1, ["weak"]),
}


def tree_digest(roots: tuple[Path, ...] = GUARDED_TREES) -> dict[str, str]:
    """Path -> type, mode, owner and content digest (or link target) of everything under
    ``roots``; a missing root is recorded as missing."""
    entries: dict[str, str] = {}

    def describe(path: str) -> str:
        st = os.lstat(path)
        desc = f"{stat.filemode(st.st_mode)} {st.st_uid}:{st.st_gid}"
        if stat.S_ISREG(st.st_mode):
            digest = hashlib.sha256()
            try:
                with open(path, "rb") as fh:
                    for chunk in iter(lambda: fh.read(1 << 20), b""):
                        digest.update(chunk)
            except PermissionError:  # not root: size and mtime stand in for the content
                desc += f" size:{st.st_size} mtime:{st.st_mtime_ns}"
            else:
                desc += f" sha256:{digest.hexdigest()}"
        elif stat.S_ISLNK(st.st_mode):
            desc += f" -> {os.readlink(path)}"
        return desc

    for root in roots:
        if not os.path.lexists(root):
            entries[str(root)] = "missing"
            continue
        entries[str(root)] = describe(str(root))
        for dirpath, dirnames, filenames in os.walk(root, onerror=lambda e: None):
            for name in [*dirnames, *filenames]:
                path = os.path.join(dirpath, name)
                entries[path] = describe(path)
    return entries


def digest_diff(before: dict[str, str], after: dict[str, str]) -> list[str]:
    lines = []
    for path in sorted(before.keys() | after.keys()):
        old, new = before.get(path, "absent"), after.get(path, "absent")
        if old != new:
            lines.append(f"{path}: {old} -> {new}")
    return lines


@pytest.fixture(scope="session", autouse=True)
def real_machine_unchanged() -> Iterator[None]:
    """Fails the run if /etc or /root/.ssh of the real machine differ after the session."""
    before = tree_digest()
    yield
    changed = digest_diff(before, tree_digest())
    if changed:
        pytest.fail(
            "the test session changed the real machine:\n" + "\n".join(changed[:50]),
            pytrace=False,
        )


def lab_unavailable(state_dir: Path) -> str | None:
    """Why the lab cannot run here, or None."""
    if os.geteuid() != 0:
        return "the lab needs root"
    try:
        check_requirements(state_dir)
    except LabRequirementError as exc:
        return str(exc)
    return None


def skip_or_fail(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"lab tests must run in CI, but: {reason}", pytrace=False)
    pytest.skip(f"lab unavailable: {reason}")


def new_lab(tmp_path_factory: pytest.TempPathFactory, name: str) -> Lab:
    """A Lab in a fresh temporary state dir with a random netns prefix of its own."""
    state_dir = tmp_path_factory.mktemp(name)
    reason = lab_unavailable(state_dir)
    if reason is not None:
        skip_or_fail(reason)
    return Lab(state_dir, netns_prefix=f"ictlt{secrets.token_hex(3)}-")


def down_and_check(lab: Lab) -> None:
    lab.down()
    left = lab.leftovers()
    assert not left, f"the lab left things behind: {left}"


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """The session's shared lab (see the module docstring for its hosts)."""
    shared = new_lab(tmp_path_factory, "lab")
    try:
        for prefix, (count, profiles) in SESSION_HOSTS.items():
            shared.up(count, profiles, prefix)
        yield shared
    finally:
        down_and_check(shared)


@pytest.fixture(scope="session")
def lab_inventory(lab: Lab) -> Path:
    """The shared lab's Ansible inventory file."""
    return lab.inventory_path


@pytest.fixture(scope="session")
def ssm_endpoint(lab: Lab) -> Iterator[EndpointInfo]:
    """The lab's SSM endpoint for the session (see the module docstring)."""
    info, _ = start_endpoint(lab.state_dir, check_responses=True)
    try:
        yield info
    finally:
        stop_endpoint(lab.state_dir)


#: the fixture that brings the session lab up; every test that needs it is a lab test
LAB_FIXTURE = "lab"


def unmarked_lab_tests(items: list[pytest.Item]) -> list[str]:
    """Node ids of the tests whose fixture closure includes ``lab`` (directly or through
    another fixture) but that do not carry the ``lab`` marker."""
    return [item.nodeid for item in items
            if LAB_FIXTURE in getattr(item, "fixturenames", ())
            and item.get_closest_marker("lab") is None]


@pytest.hookimpl(tryfirst=True)  # before -m deselects: every collected test is checked
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """``-m 'not lab'`` must never bring a lab up: a test needing the lab without the marker
    fails the collection, naming it."""
    offenders = unmarked_lab_tests(items)
    if offenders:
        raise pytest.UsageError(
            f"{len(offenders)} test(s) use the '{LAB_FIXTURE}' fixture (directly or through "
            "another fixture) without the 'lab' marker; add @pytest.mark.lab (or a module "
            "pytestmark) to: " + ", ".join(offenders))
