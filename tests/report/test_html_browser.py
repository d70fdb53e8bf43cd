"""The HTML report in a real browser: Debian's chromium, headless, driven by selenium through
Debian's chromedriver (one browser for the module). The page is a file:// URL; the browser is
told to resolve no host name and makes no request but the file (checked from its network log).

The page loads without console errors, its charts have a size, the tables sort and filter, and
the hostile host names and evidence show as text: no alert, no injected element. A screenshot is
kept under pytest's tmp dir (the path is printed)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium import webdriver
from selenium.common.exceptions import NoAlertPresentException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import Select, WebDriverWait
from typer.testing import CliRunner

from inspectorctl.cli.main import app
from tests.report.html_fixtures import (
    ATTR_HOST,
    EVIL_ROW_FOUND,
    EVIL_TRIES,
    SCRIPT_HOST,
    build_report_db,
)

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"

runner = CliRunner()


@pytest.fixture(scope="module")
def report_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rdb = build_report_db(tmp_path_factory.mktemp("browserdb"))
    out = tmp_path_factory.mktemp("browser-report") / "report.html"
    res = runner.invoke(app, ["report", "--html", str(out), "--db", str(rdb.db)])
    assert res.exit_code == 0, res.output
    return out


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebDriver]:
    for exe in (CHROMIUM, CHROMEDRIVER):
        if shutil.which(exe) is None:
            pytest.fail(f"{exe} is missing: install Debian's chromium and chromium-driver "
                        "(scripts/setup.sh dev does)")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in (
        "--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,2400",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}",
        # never the network: no host name resolves, no background service starts
        "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE localhost",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-default-apps", "--no-first-run", "--disable-domain-reliability",
        "--disable-client-side-phishing-detection", "--disable-dev-shm-usage",
    ):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(options=opts, service=Service(CHROMEDRIVER))
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def page(browser: WebDriver, report_file: Path) -> WebDriver:
    browser.get(report_file.as_uri())
    WebDriverWait(browser, 10).until(
        lambda d: d.execute_script("return document.documentElement.dataset.ready") == "1")
    return browser


def _log(driver: WebDriver, kind: str) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = driver.get_log(kind)  # type: ignore[no-untyped-call]
    return entries


def _severe(driver: WebDriver) -> list[dict[str, Any]]:
    return [e for e in _log(driver, "browser") if e["level"] == "SEVERE"]


def _no_alert(driver: WebDriver) -> None:
    with pytest.raises(NoAlertPresentException):
        driver.switch_to.alert.text  # noqa: B018 (reading it is the check)


def _column(table: WebElement, i: int) -> list[str]:
    return [str(c.get_attribute("textContent"))
            for c in table.find_elements(By.CSS_SELECTOR, f"tbody tr td:nth-child({i})")]


def test_loads_without_console_errors_and_without_requests(page: WebDriver,
                                                          report_file: Path) -> None:
    assert _severe(page) == []
    _no_alert(page)
    requests = []
    for entry in _log(page, "performance"):
        msg = json.loads(entry["message"])["message"]
        if msg["method"] == "Network.requestWillBeSent":
            requests.append(msg["params"]["request"]["url"])
    # the browser's own pages (chrome://, its start page) aside, the report file and nothing else
    assert report_file.as_uri() in requests
    assert {u for u in requests if not u.startswith(("chrome://", "data:", "about:"))} == {
        report_file.as_uri()}


def test_charts_render(page: WebDriver) -> None:
    charts = page.find_elements(By.CSS_SELECTOR, "svg.chart")
    assert len(charts) == 4
    for chart in charts:
        assert chart.size["width"] > 300 and chart.size["height"] > 50, chart.size
    bars = page.execute_script(
        "return Array.from(document.querySelectorAll('svg.chart rect')).map("
        "r => { const b = r.getBoundingClientRect(); return [r.getAttribute('class'), "
        "b.width, b.height]; })")
    high = [b for b in bars if b[0] == "sev-high"]
    # severity chart, and the trend's stacked columns of both runs
    assert len(high) == 3 and all(w > 1 and h > 1 for _, w, h in high), high
    compliance = page.find_elements(By.CSS_SELECTOR, "svg.chart polyline.fw")
    assert len(compliance) == 2  # PCI DSS and HIPAA over two runs
    assert all(p.size["width"] > 0 for p in compliance)


def test_host_table_sorts_and_filters(page: WebDriver) -> None:
    mount = page.find_element(By.ID, "table-hosts")
    table = mount.find_element(By.CSS_SELECTOR, "table")
    # default: most failures first, ties by host name
    assert _column(table, 2) == ["1", "1", "1"]
    headers = table.find_elements(By.CSS_SELECTOR, "thead th")
    headers[0].click()
    hosts = sorted([SCRIPT_HOST, ATTR_HOST, "web-1"], key=str.casefold)
    assert _column(table, 1) == hosts
    assert headers[0].get_attribute("aria-sort") == "ascending"
    headers[0].click()
    assert _column(table, 1) == list(reversed(hosts))
    headers[8].click()  # Pass, numeric: most first
    assert _column(table, 9) == ["2", "2", "2"]
    box = mount.find_element(By.CSS_SELECTOR, "input.filter")
    box.send_keys("web")
    assert _column(table, 1) == ["web-1"]
    assert mount.find_element(By.CSS_SELECTOR, ".count").text == "1 of 3"
    box.clear()
    box.send_keys("<script>")
    assert _column(table, 1) == [SCRIPT_HOST]
    box.clear()
    box.send_keys("x")  # clear() sends no input event: type, then erase
    box.send_keys("\b")
    assert len(_column(table, 1)) == 3


def test_rule_table_sorts_and_filters_by_severity(page: WebDriver) -> None:
    mount = page.find_element(By.ID, "table-rules")
    table = mount.find_element(By.CSS_SELECTOR, "table")
    table.find_elements(By.CSS_SELECTOR, "thead th")[0].click()
    assert _column(table, 1) == ["mini-ip-forward", "mini-ssh-root", "mini-ssh-tries"]
    Select(mount.find_element(By.CSS_SELECTOR, "select")).select_by_value("high")
    assert _column(table, 1) == ["mini-ssh-root"]
    assert _column(table, 3) == ["high"]


def test_findings_filter(page: WebDriver) -> None:
    def visible() -> list[str]:
        return [str(d.get_attribute("data-severity"))
                for d in page.find_elements(By.CSS_SELECTOR, "details.finding")
                if d.is_displayed()]

    assert sorted(visible()) == ["high", "low", "medium"]
    Select(page.find_element(By.ID, "finding-severity")).select_by_value("low")
    assert visible() == ["low"]
    Select(page.find_element(By.ID, "finding-severity")).select_by_value("")
    box = page.find_element(By.ID, "finding-filter")
    box.send_keys("MaxAuthTries")
    assert visible() == ["medium"]
    assert page.find_element(By.ID, "finding-count").text == "1 of 3"
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys(Keys.DELETE)
    assert len(visible()) == 3


def test_hostile_strings_show_as_text(page: WebDriver, tmp_path_factory: pytest.TempPathFactory
                                      ) -> None:
    _no_alert(page)
    counts = page.execute_script(
        "return [document.querySelectorAll('img').length, "
        "document.querySelectorAll('script').length, "
        "document.querySelectorAll('svg:not(.chart)').length, "
        "document.querySelectorAll('[onerror],[onload]').length]")
    assert counts == [0, 2, 0, 0]
    cells = page.execute_script(
        "return Array.from(document.querySelectorAll('#table-hosts td:first-child'))"
        ".map(td => td.textContent)")
    assert set(cells) == {SCRIPT_HOST, ATTR_HOST, "web-1"}
    summaries = " ".join(str(s.get_attribute("textContent"))
                         for s in page.find_elements(By.CSS_SELECTOR, "details.finding summary"))
    assert SCRIPT_HOST in summaries and ATTR_HOST in summaries
    # evidence, opened: the hostile value is text on the screen
    for d in page.find_elements(By.CSS_SELECTOR, "details.finding"):
        page.execute_script("arguments[0].open = true", d)
    body = page.find_element(By.ID, "findings").text
    assert f"maxauthtries {EVIL_TRIES}" in body
    assert EVIL_ROW_FOUND.replace("\u2028", "\\u2028") in body
    _no_alert(page)
    assert _severe(page) == []
    shot = tmp_path_factory.mktemp("html-report-artifacts") / "report.png"
    page.execute_script("window.scrollTo(0, 0)")
    assert page.save_screenshot(str(shot))
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000
    print(f"screenshot: {shot}")
