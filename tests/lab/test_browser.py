"""The lab in a real headless Chromium (Debian's, driven by Playwright): what a user does
on each page. Screenshots of every page go to test-artifacts/lab/ to be looked at.

Skipped, with the reason, where Chromium or Playwright is missing (`make test` installs
both where apt is available)."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from glassnet.lab import create_lab_app
from tests.lab.conftest import ARTIFACTS

pytestmark = pytest.mark.xdist_group("lab")

CHROMIUM = os.environ.get("GLASSNET_CHROMIUM") or shutil.which("chromium")
# As the machine's notes advise: no background networking (this machine has no network)
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",  # containers often give /dev/shm only 64 MB
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture()
def lab_url(fresh_runs: Path) -> Iterator[str]:
    import uvicorn

    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_lab_app(fresh_runs), host="127.0.0.1", port=port, log_level="error")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "the lab did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}/"
    server.should_exit = True
    thread.join(10)


@pytest.fixture()
def page(lab_url: str) -> Iterator[Any]:
    if CHROMIUM is None:
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    playwright = pytest.importorskip("playwright.sync_api", reason="pip install playwright")
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        tab = browser.new_page(viewport={"width": 1366, "height": 900})
        errors: list[str] = []
        tab.on("pageerror", lambda e: errors.append(str(e)))
        tab.set_default_timeout(30_000)
        tab.base = lab_url  # type: ignore[attr-defined]
        yield tab
        browser.close()
        assert not errors, f"the page raised: {errors}"


def shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_runs_then_one_run_then_compare(page: Any) -> None:
    page.goto(page.base + "#/runs")
    page.wait_for_selector("table.runs tbody tr")
    names = page.locator("table.runs tbody tr td:nth-child(2)").all_inner_texts()
    assert sorted(names) == ["faces", "iris-fast", "iris-slow", "spots", "words"]
    page.fill("#run-filter", "images")  # filter by task
    page.wait_for_function("document.querySelectorAll('table.runs tbody tr').length === 1")
    page.fill("#run-filter", "")
    first = "document.querySelector('table.runs tbody tr td:nth-child(2)').innerText"
    page.get_by_role("button", name="Run", exact=True).click()  # sort by name, A to Z
    page.wait_for_function(f"{first} === 'faces'")
    page.get_by_role("button", name="Run", exact=True).click()  # and Z to A
    page.wait_for_function(f"{first} === 'words'")
    shot(page, "1-runs")
    page.get_by_role("link", name="iris-fast").click()
    page.wait_for_selector("figure.chart svg polyline")
    assert page.locator("figure.chart figcaption").first.inner_text() == "loss"
    assert "test accuracy" in page.locator("table.metrics").inner_text()
    page.click("#net-views")
    page.wait_for_selector(".look-net article.view img")
    page.click("#look-go")  # the example row, as the page filled it in
    page.wait_for_selector(".look-results table.predictions")
    page.wait_for_selector(".look-results .verdict")
    # pick a neuron: the output chosen first, then a hidden one and what fed it
    assert "for this input" in page.locator(".neuron-detail").inner_text()
    page.locator(".neuron-column").nth(1).locator("button.neuron").first.click()
    fed = page.locator(".neuron-detail").inner_text()
    assert fed.startswith("hidden 1 #") and "What fed it most" in fed
    assert "petal" in fed or "sepal" in fed  # the input features, by name
    shot(page, "2-run")
    page.goto(page.base + "#/runs")
    page.get_by_label("pick iris-fast to compare").check()
    page.get_by_label("pick iris-slow to compare").check()
    page.click("#compare")
    page.wait_for_selector("figure.chart svg polyline")
    differs = page.locator("tr.differs").all_inner_texts()
    assert any(row.startswith("lr") for row in differs), differs  # what the runs differ in
    assert page.locator("figure.chart").first.locator("polyline").count() == 4  # 2 runs x 2
    shot(page, "3-compare")


def test_upload_an_image_and_see_where_the_net_looked(page: Any, face_image: Path) -> None:
    page.goto(page.base + "#/run/faces")
    page.set_input_files("#look-files", str(face_image))
    page.click("#look-go")
    card = page.locator("article.view", has_text="Where the net looked")
    card.locator("img").wait_for()
    assert card.locator("img").get_attribute("src").startswith("data:image/png;base64,")
    assert "Faithfulness check" in card.locator(".verdict").inner_text()
    assert page.locator(".look-results table.predictions td").first.inner_text() == face_image.name
    shot(page, "4-look-inside-image")
    page.click("#maps-go")
    tile = page.locator(".map-tile img").first
    tile.hover(position={"x": 5, "y": 5})  # a cell near the top-left corner
    readout = page.locator("#rf-readout").inner_text()
    assert "channel" in readout and "px patch from (0, 0)" in readout
    assert page.locator(".rf-box").is_visible()
    page.select_option("#maps-layer", index=2)
    page.locator(".map-tile img").first.focus()
    page.keyboard.press("ArrowRight")  # keyboard users move the cell too
    assert "column 1" in page.locator("#rf-readout").inner_text()
    shot(page, "5-feature-maps")
    page.click("#evaluate")  # the evaluation pictures of the run's own test split
    page.wait_for_selector("#pictures figure img[src^='blob:']")
    captions = page.locator("#pictures figcaption").all_inner_texts()
    assert "confusion matrix" in captions, captions
    assert page.locator("#pictures p").first.inner_text().startswith("Scored ")


def test_step_through_an_rnns_memory_and_pick_a_token(page: Any) -> None:
    page.goto(page.base + "#/run/spots")
    page.click("#look-go")  # the example history, as the page filled it in
    slider = page.locator(".step-slider")
    slider.wait_for()
    caption = page.locator(".step-caption")
    last = caption.inner_text()
    slider.focus()
    page.keyboard.press("Home")  # keyboard: to the first step
    assert caption.inner_text().startswith("step 1 of") and caption.inner_text() != last
    page.locator(".unit-bar").nth(2).click()  # follow another unit
    title = page.locator(".unit-trace figcaption").inner_text()
    assert title.startswith("unit ") and page.locator(".unit-bar.picked").count() == 1
    shot(page, "6-rnn-memory")
    page.goto(page.base + "#/run/words")
    page.wait_for_selector("h2:has-text('words')")  # the new page, not the one before
    page.fill("#look-json", '{"texts": ["red cat"]}')
    page.click("#look-go")
    tokens = page.locator("button.token")
    tokens.first.wait_for()
    tokens.nth(1).click()
    detail = page.locator(".attention-detail p").inner_text()
    assert "looked most at" in detail and page.locator(".attn.best").count() == 1
    assert page.locator(".attn").count() == 2  # the two source tokens of 'red cat'
    assert page.locator(".look-results table.predictions td").first.inner_text() == "red cat"
    shot(page, "7-attention")


def test_train_watch_the_curve_grow_and_find_the_run(page: Any) -> None:
    page.goto(page.base + "#/train")
    page.select_option("#task", "tabular")
    page.select_option("#builtin", "iris")
    page.fill("#opt-epochs", "25")
    page.click("summary:has-text('Net options')")  # a closed section, as a user opens it
    page.fill("#opt-hidden", "32, 16")
    shot(page, "8-train-form")
    page.click("#train-go")
    page.wait_for_selector("#live-weights[src]")  # the first layer, drawn from a snapshot
    link = page.locator("#live-run")
    link.wait_for(timeout=120_000)
    points = page.locator("#live figure.chart").first.locator("polyline").get_attribute("points")
    assert len(points.split()) >= 5  # the loss curve grew while it trained
    assert len(page.locator("#live-epochs tbody tr").all()) == 10  # the last 10 epochs
    shot(page, "9-trained")
    run = link.inner_text().removeprefix("Open ")
    link.click()
    page.wait_for_selector("figure.chart svg polyline")
    assert '"hidden": [' in (page.locator("pre.config").text_content() or "")
    page.goto(page.base + "#/runs")
    page.wait_for_selector(f"table.runs a:text-is('{run}')")


def test_a_bad_file_shows_the_data_doctors_message(page: Any, tmp_path: Path) -> None:
    bad = tmp_path / "orders.csv"
    bad.write_text("customer,amount,churned\n", encoding="utf-8")
    page.goto(page.base + "#/train")
    page.select_option("#task", "tabular")
    page.set_input_files("#upload", str(bad))
    alert = page.locator("#upload-status .alert")
    alert.wait_for()
    assert "'orders.csv' has a header but no rows" in alert.inner_text()
    good = tmp_path / "orders2.csv"
    good.write_text("customer,amount,churned\n" + "a,1,0\nb,2,1\n" * 20, encoding="utf-8")
    page.set_input_files("#upload", str(good))
    page.wait_for_selector("#upload-status.ok")
    page.click("summary:has-text('Data options')")
    page.fill("#opt-target", "churn")
    page.click("#train-go")
    message = page.locator("#train-errors .alert")
    message.wait_for()
    assert "'churn' is not in 'orders2.csv'" in message.inner_text()
    assert "Did you mean 'churned'" in message.inner_text()
    page.fill("#opt-target", "churned")
    page.click("summary:has-text('Net options')")
    page.fill("#opt-dropout", "2")
    page.click("#train-go")
    page.wait_for_function(
        "document.querySelector('#train-errors .alert')?.innerText.includes('dropout')"
    )
    shot(page, "10-doctor")
