"""The studio's own measures (docs/BENCHMARKS.md): page weight, time to interactive, and progress latency.

Measured by the page itself (``performance.mark`` in app.js) in headless
Chromium against a real `lookalike serve` with the tiny model. Run with
``LOOKALIKE_BENCH_OUT=path.json`` to keep the figures (``LOOKALIKE_BENCH_RUNS``
runs each, 2 by default: enough for the suite's loose bounds; the figures in
docs/BENCHMARKS.md take 9); the assertions are loose bounds, so a slow machine
does not fail, a broken measure does.
"""

from __future__ import annotations

import json
import os
import re
import statistics

import pytest
from playwright.sync_api import expect

from tests.web.conftest import studio_page
from tests.web.studio import (
    generate,
    make_tune,
    preset,
    quick_settings,
    sign_up,
    wait_done,
)

pytestmark = pytest.mark.slow

RUNS = int(os.environ.get("LOOKALIKE_BENCH_RUNS", "2"))
RESULTS: dict = {}
MARKS = ("generate", "queued", "first-update", "first-step", "last-step", "last-update", "done", "shown")

NAVIGATION = """() => {
    const nav = performance.getEntriesByType('navigation')[0];
    const ready = performance.getEntriesByName('lookalike:ready')[0];
    return {dom_interactive: nav.domInteractive, dom_content_loaded: nav.domContentLoadedEventEnd,
            load: nav.loadEventEnd, ready: ready.startTime};
}"""
WEIGHT = """() => [performance.getEntriesByType('navigation')[0], ...performance.getEntriesByType('resource')]
    .map(e => [new URL(e.name).pathname, e.encodedBodySize])
    .filter(([path]) => path === '/' || path.startsWith('/static/') || path === '/favicon.ico')"""
# The server's finish time (trained_at, its wall clock) on the page's clock: one machine, one wall clock.
FINISHED = """async id => {
    const r = await fetch('/prompts/' + id, {headers: {Authorization: 'Bearer ' + localStorage.getItem('lookalike.apiKey')}});
    return Date.parse((await r.json()).trained_at) - performance.timeOrigin;
}"""


def _marks(page, prompt_id: int) -> dict[str, float | None]:
    names = [name if name == "generate" else f"{name}:{prompt_id}" for name in MARKS]
    return page.evaluate(
        """names => Object.fromEntries(names.map(n => {
            const all = performance.getEntriesByName('lookalike:' + n, 'mark');
            return [n.split(':')[0], all.length ? all[all.length - 1].startTime : null];
        }))""",
        names,
    )


def _diff(marks: dict, start: str, end: str) -> float | None:
    return None if marks[start] is None or marks[end] is None else marks[end] - marks[start]


def _median(values):
    values = [v for v in values if v is not None]
    return round(statistics.median(values), 1) if values else None


def _progress_runs(page, label: str) -> dict:
    rows = []
    for n in range(RUNS):
        quick_settings(page, images=1, steps=20, seed=100 + n)
        prompt_id = generate(page)
        expect(wait_done(page, prompt_id)).to_have_attribute("data-status", "succeeded")
        m = _marks(page, prompt_id)
        finished = page.evaluate(FINISHED, prompt_id)
        rows.append({
            "generate_to_card": _diff(m, "generate", "queued"),
            "generate_to_first_update": _diff(m, "generate", "first-update"),
            "generate_to_first_step": _diff(m, "generate", "first-step"),
            "last_step_to_shown": _diff(m, "last-step", "shown"),
            "last_update_to_shown": _diff(m, "last-update", "shown"),
            "server_finished_to_shown": None if m["shown"] is None else m["shown"] - finished,
            "done_to_shown": _diff(m, "done", "shown"),
        })
    summary = {key: _median(row[key] for row in rows) for key in rows[0]}
    summary["runs"] = len(rows)
    summary["last_step_seen"] = sum(row["last_step_to_shown"] is not None for row in rows)
    RESULTS[label] = summary
    return summary


def test_page_weight_and_time_to_interactive(browser, studio_server, photo_files):
    with studio_page(browser, studio_server) as page:
        key = sign_up(page)
        make_tune(page, [photo_files["1.jpg"]], "Weight")  # an account with something to list
    timings, weight = [], []
    for _ in range(RUNS):
        # A cold cache each time, the key already stored: a returning user's first load.
        with studio_page(browser, studio_server) as page:
            page.add_init_script(f"localStorage.setItem('lookalike.apiKey', {json.dumps(key)})")
            page.goto("/")
            expect(page.locator("html")).to_have_attribute("data-ready", "true")
            expect(page.locator("#key-status")).to_contain_text("Key accepted: 1 tune")
            timings.append(page.evaluate(NAVIGATION))
            weight = page.evaluate(WEIGHT)
    files = dict(weight)
    total = sum(size for path, size in files.items() if re.search(r"^/$|\.js$|\.css$", path))
    RESULTS["page"] = {
        "bytes": files,
        "html_js_css_bytes": total,
        "time_to_interactive_ms": {k: _median(t[k] for t in timings) for k in timings[0]},
        "runs": len(timings),
    }
    assert 10_000 < total < 150_000, files  # no build step needed at this size
    assert RESULTS["page"]["time_to_interactive_ms"]["ready"] < 10_000


def test_progress_latency_with_events_and_with_polling(browser, studio_server, photo_files):
    with studio_page(browser, studio_server) as page:
        sign_up(page)
        make_tune(page, [photo_files["1.jpg"]], "Bench")
        preset(page, "Professional networking").click()
        served = _progress_runs(page, "progress_as_served")
        served["events_url"] = page.evaluate(
            "fetch('/prompts?limit=1', {headers: {Authorization: 'Bearer ' + localStorage.getItem('lookalike.apiKey')}})"
            ".then(r => r.json()).then(list => Boolean(list[0] && list[0].events_url))"
        )

        # The same through polling only (the answer without events_url), as on a server without events.
        def post(route):
            response = route.fetch()
            body = response.json()
            body.pop("events_url", None)
            route.fulfill(response=response, json=body)

        page.route(re.compile(r".*/tunes/\d+/prompts$"), post)
        polling = _progress_runs(page, "progress_polling")
    for summary in (served, polling):
        assert summary["generate_to_first_update"] is not None and summary["generate_to_first_update"] < 30_000
        assert summary["done_to_shown"] is not None


@pytest.fixture(scope="module", autouse=True)
def _write_results():
    yield
    out = os.environ.get("LOOKALIKE_BENCH_OUT")
    if out and RESULTS:
        with open(out, "w") as f:
            json.dump(RESULTS, f, indent=2)
    if RESULTS:
        print(json.dumps(RESULTS, indent=2))
