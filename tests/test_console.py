"""The local console in a real browser (Debian's Chromium, headless): what a person sees at
`/` of `meter-reading serve` after a household sent a photo and a YES, and a failed reading
redriven with the console's button."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import AMQP_URL, BillingQueue
from twilio_client import ServedCommand, Twilio

from meter_reading.local.runtime import LocalPipeline
from meter_reading.local.sample_photo import render_meter_photo
from meter_reading.local.server import WebhookServer

CHROMIUM = "/usr/bin/chromium"
# Never reach out: no updates, no sync, no field trials; the sandbox needs user namespaces
# that a CI container may not have.
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
HOUSEHOLD = "whatsapp:+27825550199"
MASKED = "whatsapp:+27*****0199"
# Set to a path (e.g. docs/console.png) to keep a screenshot of the console.
SCREENSHOT = os.environ.get("CONSOLE_SCREENSHOT")

sync_api = pytest.importorskip("playwright.sync_api")


@pytest.fixture
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (.ci/run does)")
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS
        )
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def served_command(rabbitmq: str) -> Iterator[tuple[str, Twilio]]:
    """`meter-reading serve` as a person starts it, on a free port."""
    with ServedCommand("console-test-token", rabbitmq) as served:
        yield served.base_url, served.twilio


def test_the_console_shows_a_confirmed_reading_like_the_step_functions_console(
    served_command: tuple[str, Twilio], browser: Any
) -> None:
    base_url, twilio = served_command
    photo = twilio.form(HOUSEHOLD, media_url=twilio.upload(render_meter_photo("04521.7")))
    assert twilio.post(photo).status_code == 200
    assert len(twilio.wait_for_messages(HOUSEHOLD, 1)) == 1
    assert twilio.post(twilio.form(HOUSEHOLD, "YES")).status_code == 200
    assert len(twilio.wait_for_messages(HOUSEHOLD, 2)) == 2
    name = photo["MessageSid"]

    page = browser.new_page(viewport={"width": 1500, "height": 1300})
    page.goto(base_url + "/")
    row = page.locator(f"[data-testid=executions] tr[data-name='{name}']")
    sync_api.expect(row).to_contain_text("SUCCEEDED", timeout=60_000)
    sync_api.expect(row).to_contain_text("CONFIRMED")
    sync_api.expect(row).to_contain_text(MASKED)
    assert HOUSEHOLD.removeprefix("whatsapp:") not in page.content()

    row.click()
    detail = page.locator("[data-testid=detail]")
    sync_api.expect(detail.locator("[data-testid=execution-outcome]")).to_have_text("CONFIRMED")
    sync_api.expect(detail.locator("[data-testid=reading-value]")).to_have_text("04521.7 kWh")
    graph = detail.locator("[data-testid=graph]")
    for state, status in [
        ("Fetch photo from Twilio", "SUCCEEDED"),
        ("Ask user to confirm", "SUCCEEDED"),
        ("Reading confirmed", "SUCCEEDED"),
        ("Mark reading rejected", "NOT_VISITED"),
        ("Reading failed", "NOT_VISITED"),
    ]:
        assert graph.locator(f"g[data-state='{state}']").get_attribute("data-status") == status
    assert graph.locator("path[data-taken='true']").count() >= 10
    # Each state's input and output, duration and retries, as the Step Functions console has.
    ask = detail.locator("[data-testid=states] tr[data-state='Ask user to confirm']")
    sync_api.expect(ask).to_contain_text("SUCCEEDED")
    ask.locator("summary").click()
    sync_api.expect(ask.locator("pre").first).to_contain_text(name)
    sync_api.expect(ask.locator("pre").last).to_contain_text('"decision": "YES"')
    assert re.fullmatch(r"\d+\.\d s", ask.locator("td").nth(2).inner_text())
    # The household's photo, from the photo bucket.
    image = detail.locator("[data-testid=photo]")
    page.wait_for_function("() => document.querySelector('[data-testid=photo]')?.naturalWidth > 0")
    assert image.evaluate("img => img.naturalWidth") == 1000

    readings = page.locator("[data-testid=readings]")
    sync_api.expect(readings).to_contain_text("04521.7 kWh")
    outbox = page.locator(f"[data-testid=outbox] tr:has-text('{name}')")
    sync_api.expect(outbox).to_contain_text("SENT")
    page.locator("[data-testid=drain]").click()
    sync_api.expect(page.locator("#drain-result")).to_have_text("Drained: 0 sent, 0 dead, 0 left")
    if SCREENSHOT:
        page.screenshot(path=SCREENSHOT, full_page=True)
    page.close()


class _BrokenTextract:
    def detect(self, image_bytes: bytes) -> list[dict[str, Any]]:
        raise RuntimeError("the OCR service could not process the document")


def test_a_failed_reading_shows_its_error_and_is_redriven_from_the_console(
    billing_queue: BillingQueue, browser: Any
) -> None:
    with (
        LocalPipeline(
            amqp_url=AMQP_URL,
            billing_exchange=billing_queue.exchange,
            detector=_BrokenTextract(),
            emit_metrics=False,
        ) as pipeline,
        WebhookServer(pipeline, port=0) as server,
    ):
        reading_id, _ack = pipeline.send_photo(HOUSEHOLD, render_meter_photo("04521.7"))
        assert pipeline.wait_until_finished(reading_id)["status"] == "FAILED"

        page = browser.new_page(viewport={"width": 1500, "height": 1100})
        page.goto(server.local_url + "/")
        row = page.locator(f"[data-testid=executions] tr[data-name='{reading_id}']")
        sync_api.expect(row).to_contain_text("TextDetectionFailed", timeout=30_000)
        row.click()
        detail = page.locator("[data-testid=detail]")
        sync_api.expect(detail.locator("[data-testid=execution-error]")).to_contain_text(
            "TextDetectionFailed: RuntimeError: the OCR service could not process the document"
        )
        graph = detail.locator("[data-testid=graph]")
        assert (
            graph.locator("g[data-state='Reading failed']").get_attribute("data-status") == "FAILED"
        )
        detail.locator("[data-testid=redrive]").click()
        redriven = f"{reading_id}-redrive-1"
        sync_api.expect(
            page.locator(f"[data-testid=executions] tr[data-name='{redriven}']")
        ).to_be_visible(timeout=30_000)
        assert pipeline.wait_until_finished(redriven)["status"] == "FAILED"
        # The same reading, run again: the new execution updates the same reading row.
        assert pipeline.reading(reading_id) is not None
        assert "reading_id" in pipeline.describe(reading_id)["input"]
        page.close()
