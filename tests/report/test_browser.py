"""The real pipeline's report.html in headless Chromium: plots laid out, no console errors, a screenshot kept
(DEPLOYPROF_ARTIFACTS, default docs/artifacts/). scripts/test.sh installs Debian's chromium and chromium-driver
and sets DEPLOYPROF_REQUIRE_BROWSER=1, so in CI a missing browser fails instead of skipping."""
import os
import shutil
from pathlib import Path

import pytest

from ..conftest import invoke


CHROMIUM, DRIVER = shutil.which("chromium") or shutil.which("chromium-browser"), shutil.which("chromedriver")


def _driver(width=1400, height=1000):
    if not (CHROMIUM and DRIVER):
        if os.environ.get("DEPLOYPROF_REQUIRE_BROWSER") == "1":
            pytest.fail("DEPLOYPROF_REQUIRE_BROWSER=1 but chromium/chromedriver are missing (apt-get install chromium chromium-driver)")
        pytest.skip("chromium and chromedriver not installed")
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", f"--window-size={width},{height}"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(DRIVER), options=opts)


@pytest.mark.browser
def test_profile_report_renders_in_chromium(tiny_export, tmp_path):
    out = tmp_path / "profile"
    res = invoke(["profile", str(tiny_export), "--out", str(out), "--precisions", "fp16,int8",
                  "--duration", "0.5", "--threads", "1"])
    assert res.exit_code == 0, res.output
    driver = _driver()
    try:
        driver.get((out / "report.html").resolve().as_uri())
        body = driver.find_element("tag name", "body")
        plots, rendered = int(body.get_attribute("data-plots")), int(body.get_attribute("data-plots-rendered"))
        assert plots >= 7 and rendered == plots
        assert body.get_attribute("data-errors") == "0"
        severe = [e for e in driver.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]
        assert severe == []
        assert "Summary: policy_step" in body.text and "Accuracy of each configuration" in body.text
        height = driver.execute_script("return document.documentElement.scrollHeight")
        driver.set_window_size(1400, min(height + 40, 8000))
        artifacts = Path(os.environ.get("DEPLOYPROF_ARTIFACTS", Path(__file__).resolve().parents[2] / "docs" / "artifacts"))
        artifacts.mkdir(parents=True, exist_ok=True)
        shot = artifacts / "report.png"
        assert driver.save_screenshot(str(shot)) and shot.stat().st_size > 50_000
    finally:
        driver.quit()


def test_report_command_rerenders_from_report_json_alone(tiny_export, tmp_path):
    out = tmp_path / "p"
    assert invoke(["profile", str(tiny_export), "--out", str(out), "--duration", "0.2"]).exit_code == 0
    first = {n: (out / n).read_text() for n in ("report.md", "report.html")}
    moved = tmp_path / "only-json"
    moved.mkdir()
    shutil.copy(out / "report.json", moved / "report.json")  # no export folder, no other file
    res = invoke(["report", str(moved)])
    assert res.exit_code == 0, res.output
    assert {n: (moved / n).read_text() for n in first} == first
    res = invoke(["report", str(tmp_path / "nowhere")])
    assert res.exit_code == 1 and res.output.startswith("error: report not found")


def _check_page(driver, path: Path, min_plots: int, texts: tuple[str, ...], shot: str) -> None:
    driver.get(path.resolve().as_uri())
    body = driver.find_element("tag name", "body")
    plots, rendered = int(body.get_attribute("data-plots")), int(body.get_attribute("data-plots-rendered"))
    assert plots >= min_plots and rendered == plots, (plots, rendered)
    assert body.get_attribute("data-errors") == "0"
    assert [e for e in driver.get_log("browser") if e["level"] in ("SEVERE", "ERROR")] == []
    for text in texts:
        assert text in body.text
    artifacts = Path(os.environ.get("DEPLOYPROF_ARTIFACTS", Path(__file__).resolve().parents[2] / "docs" / "artifacts"))
    artifacts.mkdir(parents=True, exist_ok=True)
    assert driver.save_screenshot(str(artifacts / shot))


@pytest.mark.browser
def test_sweep_pareto_plot_and_history_trend_render_in_chromium(tiny_export, tmp_path):
    shutil.copytree(tiny_export, tmp_path / "export")  # a sweep names paths inside its own folder
    sweep = tmp_path / "s.yaml"
    sweep.write_text("subjects: [export]\nprecisions: [fp32, fp16]\n"
                     "measure: {duration: 0.3, accuracy_samples: 2, in_process: true}\n")
    store = tmp_path / "r.sqlite"
    res = invoke(["sweep", str(sweep), "--out", str(tmp_path / "o"), "--store", str(store)])
    assert res.exit_code == 0, res.output
    res = invoke(["history", "--store", str(store), "--html", str(tmp_path / "h.html")])
    assert res.exit_code == 0, res.output
    driver = _driver()
    try:
        _check_page(driver, tmp_path / "o" / "sweep.html", 1,
                    ("Latency against accuracy", "Verdict per configuration and device"), "sweep.png")
        assert "Pareto front" in driver.page_source
        _check_page(driver, tmp_path / "h.html", 2, ("Stored results",), "history.png")
    finally:
        driver.quit()
