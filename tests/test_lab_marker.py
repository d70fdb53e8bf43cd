"""tests/conftest.py refuses a test that needs the lab without the ``lab`` marker, so that
``-m 'not lab'`` never brings a lab up."""

from __future__ import annotations

import pytest

pytest_plugins = ("pytester",)

CONFTEST = '''
import pytest
from tests.conftest import pytest_collection_modifyitems  # noqa: F401 - the hook under test

@pytest.fixture(scope="session")
def lab(tmp_path_factory):
    (tmp_path_factory.getbasetemp() / "LAB-WAS-BROUGHT-UP").touch()
    return "the lab"

@pytest.fixture
def lab_host(lab):
    return lab + " host"
'''
INI = "[pytest]\nmarkers =\n    lab: needs the lab\naddopts = --strict-markers\n"


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeconftest(CONFTEST)
    pytester.makeini(INI)
    return pytester


def test_a_test_using_the_lab_without_the_marker_fails_collection(
        project: pytest.Pytester) -> None:
    project.makepyfile(test_a='''
import pytest

def test_direct(lab):
    pass

def test_through_another_fixture(lab_host):
    pass

@pytest.mark.lab
def test_marked(lab_host):
    pass

def test_no_lab():
    pass
''')
    result = project.runpytest("-m", "not lab")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([
        "ERROR: 2 test(s) use the 'lab' fixture (directly or through another fixture) without "
        "the 'lab' marker; add @pytest.mark.lab (or a module pytestmark) to: "
        "test_a.py::test_direct, test_a.py::test_through_another_fixture"])
    assert not (project.path.parent / "LAB-WAS-BROUGHT-UP").exists()


def test_marked_lab_tests_are_deselected_and_the_lab_stays_down(
        project: pytest.Pytester) -> None:
    project.makepyfile(test_b='''
import pytest

pytestmark = pytest.mark.lab

def test_module_marked(lab_host):
    pass
''', test_c='''
import pytest

@pytest.mark.lab
def test_marked(lab):
    pass

def test_no_lab():
    pass
''')
    result = project.runpytest("-m", "not lab")
    result.assert_outcomes(passed=1, deselected=2)
    basetemp = project.path / "basetemp"
    assert not list(project.path.parent.rglob("LAB-WAS-BROUGHT-UP"))
    assert not basetemp.exists() or not list(basetemp.rglob("LAB-WAS-BROUGHT-UP"))

