"""The report as a person sees it: report.html in headless Chromium at a desktop's and a
phone's width. No table cell overlaps its neighbour or cuts its text off, and nothing
overflows the page outside a horizontal scroll container (``tests/layout_check.js`` measures
the laid-out page).

Needs Debian's ``chromium`` and ``chromium-driver`` and the ``selenium`` package (the dev
extra); ``.ci/run`` installs the browser. Skipped, saying why, where they are missing.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest

from forecast.cli import main

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
CHECK = (Path(__file__).parent / "layout_check.js").read_text(encoding="utf-8")
#: what the machine notes say Chromium needs here: no sandbox as root, nothing from the network
FLAGS = (
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage",
)  # fmt: skip


@pytest.fixture(scope="module")
def browser():
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")
    if CHROMIUM is None or DRIVER is None:
        pytest.skip(
            "no headless browser: install Debian's chromium and chromium-driver "
            "(apt-get install -y chromium chromium-driver; .ci/run does)"
        )
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    for flag in (*FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    """A report with everything that made the layout break: three series (the across-series
    tables), intervals (the widest leaderboards) and the longest model name."""
    out = tmp_path_factory.mktemp("run") / "run"
    models = "naive,drift,ar,markov,lecture_rnn_direction"
    argv = [
        "backtest", "GSPC", "AAPL", "IBM", "--models", models,
        "--epochs", "1", "--test-size", "30", "--refit-every", "30", "--horizons", "1,5",
        "--intervals", "conformal", "--jobs", "1", "--no-progress", "--out", str(out),
    ]  # fmt: skip
    assert main(argv) == 0
    return out / "report.html"


@pytest.mark.parametrize("width", [1400, 400])
def test_no_cell_overlaps_and_nothing_overflows_the_page(browser, report, width):
    browser.set_window_size(width, 1000)
    browser.get(report.as_uri())
    found = browser.execute_script(CHECK)
    assert found["tables"] >= 10  # the check looked at the leaderboards
    assert found["overlaps"] == [], "cells printed over their neighbours"
    assert found["clipped"] == [], "cell contents cut off"
    assert found["overflow"] == [], "content overflowing the page outside a scroll box"
    assert found["page"] <= found["vw"]  # no sideways scrolling of the page itself
    assert found["broken_names"] == [], "model names broken across lines"


def test_a_wide_table_scrolls_in_its_own_box_on_a_phone(browser, report):
    browser.set_window_size(400, 1000)
    browser.get(report.as_uri())
    wide = browser.execute_script(
        "return Array.from(document.querySelectorAll('.table-wrap'))"
        ".filter(w => w.scrollWidth > w.clientWidth + 1).length"
    )
    assert wide >= 1  # the leaderboards are wider than a phone: they scroll, the page does not
