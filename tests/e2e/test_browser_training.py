"""The training page (``/training``) through a real browser: a short run drawn as it forms,
one run at a time, cancel; and the screenshot ``docs/images/studio-training.png``.

The page is checked against numbers found independently of its drawing code: the run's own
events (read back from the API after the run), PyTorch's ``OneCycleLR`` for where the
schedule's peak must be drawn, and the canvases' pixels read back from the browser.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

pytestmark = pytest.mark.browser

IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"

# Records, after every "step k / N" status, how much of each canvas is drawn: the status is
# set by the same event handler that draws, so a MutationObserver callback (a microtask run
# after that handler) sees exactly what the page showed at step k.
RECORD_FRAMES = """() => {
  const ink = (canvas) => {
    const d = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
    let n = 0, right = -1;
    for (let p = 3; p < d.length; p += 4) {
      if (d[p] > 0) { n++; right = Math.max(right, ((p - 3) / 4) % canvas.width); }
    }
    return [n, right];
  };
  window.frames_seen = [];
  new MutationObserver(() => {
    const m = /^step (\\d+) \\/ (\\d+)/.exec(document.getElementById("t-status").textContent);
    if (!m) return;
    window.frames_seen.push({ step: +m[1], total: +m[2],
      loss: ink(document.getElementById("c-loss")), lr: ink(document.getElementById("c-lr")),
      zero: ink(document.getElementById("c-zero")),
      dims: [...document.querySelectorAll("#c-dims canvas")].map(ink) });
  }).observe(document.getElementById("t-status"),
             { childList: true, characterData: true, subtree: true });
}"""

# The schedule canvas's topmost blue pixel (the learning rate's peak) and lowest orange one
# (the momentum's trough), as (x, y), each the leftmost of its row: the warm-up side of the
# peak is steep, the cosine side flat. The line colours are the page's #2f6fdd and #dd7a2f.
LINE_EXTREMES = """() => {
  const c = document.getElementById("c-lr");
  const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
  let blue = null, orange = null;
  for (let y = 0; y < c.height; y++) for (let x = 0; x < c.width; x++) {
    const p = 4 * (y * c.width + x), [r, g, b, a] = [d[p], d[p + 1], d[p + 2], d[p + 3]];
    if (a < 64) continue;  // lines are antialiased: half-covered pixels count
    if (b > r + 80 && blue === null) blue = [x, y];  // the first of the top row: its left end
    if (r > b + 80 && (orange === null || y > orange[1])) orange = [x, y];
  }
  return { blue, orange, width: c.width, height: c.height };
}"""


@pytest.fixture(autouse=True)
def _patient_expect() -> None:
    """Wait up to 30 s for the page: training shares the CI machine with everything else."""
    from playwright.sync_api import expect

    expect.set_options(timeout=30_000)


def fill_run(page: Any, *, model: str, batch: int, n_train: int, epochs: float,
             schedule: str = "one_cycle", lr: float = 0.06) -> None:
    page.select_option("#t-model", model)
    page.select_option("#t-schedule", schedule)
    page.fill("#t-lr", str(lr))
    page.fill("#t-bs", str(batch))
    page.fill("#t-n", str(n_train))
    page.fill("#t-epochs", str(epochs))


def js_number(value: float) -> str:
    """A number as JavaScript's String() writes it (1.0 -> "1", 0.25 -> "0.25")."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def run_events(page: Any, base_url: str, run_id: int) -> list[dict[str, Any]]:
    """The run's events as the server kept them (the stream, read once more after the end)."""
    response = page.request.get(f"{base_url}/api/training/runs/{run_id}/events")
    assert response.ok, response.text()
    return [json.loads(line[6:]) for line in response.text().splitlines()
            if line.startswith("data: ") and line != "data: {}"]


def one_cycle_peak(total_steps: int, pct_start: float = 0.25) -> int:
    """The 1-based step at which PyTorch's OneCycleLR uses its highest learning rate."""
    weight = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.AdamW([weight], lr=0.06)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=0.06, total_steps=total_steps, pct_start=pct_start)
    lrs = []
    for _ in range(total_steps):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        schedule.step()
    return int(np.argmax(lrs)) + 1


def test_a_short_run_is_drawn_as_it_forms_then_screenshot(start_studio: Any, page: Any) -> None:
    from playwright.sync_api import expect

    studio = start_studio()
    page.goto(studio.url + "/training")
    page.evaluate(RECORD_FRAMES)
    # 2,000 of the digits at batch 32: 62 steps of simple_cnn + BatchNorm, one-cycle
    fill_run(page, model="simple_bn", batch=32, n_train=2000, epochs=1)
    with page.expect_response("**/api/training/runs") as started:
        page.click("#t-start")
    run_id = started.value.json()["run_id"]
    expect(page.locator("#t-cancel")).to_be_enabled()
    expect(page.locator("#t-status")).to_contain_text("done after", timeout=120_000)
    expect(page.locator("#t-start")).to_be_enabled()
    expect(page.locator("#t-cancel")).to_be_disabled()

    events = run_events(page, studio.url, run_id)
    start = next(e for e in events if e["type"] == "start")
    steps = [e for e in events if e["type"] == "step"]
    evals = [e for e in events if e["type"] == "eval"]
    done = events[-1]
    total = start["total_steps"]
    assert total == 2000 // 32 and [e["step"] for e in steps] == list(range(1, total + 1))

    # drawn as it formed: one frame per step, each drawing more, the colorful dimension one
    # column further right each time (step k ends at floor(k/total * width) - 1)
    frames = page.evaluate("window.frames_seen")
    assert [f["step"] for f in frames] == list(range(1, total + 1))
    width = 300  # the page's colorful-dimension canvases
    for f in frames:
        assert len(f["dims"]) == len(start["layers"])
        for count, right in f["dims"]:
            assert right == max(1, (f["step"] * width) // total) - 1, f
            assert count > 0
    losses_ink = [f["loss"][0] for f in frames]
    assert losses_ink[total // 2] > 0 and losses_ink[-1] > losses_ink[total // 4]
    assert frames[total // 2]["lr"][0] < frames[-1]["lr"][0]  # the schedule grows too
    assert frames[total // 2]["zero"][0] > 0  # and one layer's share near zero

    # what the page wrote equals what the run reported
    last = evals[-1]
    expect(page.locator("#t-acc")).to_have_text(
        f"valid accuracy {100 * last['valid_accuracy']:.2f}% at epoch {js_number(last['epoch'])}")
    expect(page.locator("#t-status")).to_have_text(
        f"done after {js_number(done['train_seconds'])} s of training, valid accuracy "
        f"{100 * done['final_accuracy']:.2f}%")
    assert done["final_accuracy"] > 0.5  # simple_cnn + BatchNorm learns in 62 steps
    # each chart's scale is written under it, from the run's own numbers
    loss_top = max(max(e["loss"] for e in steps), 0.1)
    expect(page.locator("#t-loss-axes")).to_have_text(
        f"blue: training loss, 0 (bottom) to {loss_top:.2f} (top); green: valid accuracy, "
        f"0 to 100%; steps 1 to {total} left to right")
    expect(page.locator("#t-lr-axes")).to_contain_text(
        f"blue: learning rate, 0 (bottom) to {max(e['lr'] for e in steps):.2f} (top); orange: "
        "momentum")
    expect(page.locator("#c-dims figcaption")).to_have_text(start["layers"])

    # plot_layer_stats of the last ReLU (the chapter's choice), then of the first layer: the
    # latest values and each series' range, as the run reported them
    def stats_captions(k: int) -> list[str]:
        out = []
        for key, title, scale, digits in (("mean", "mean", 1, 3), ("std", "std", 1, 3),
                                          ("near_zero", "% near zero", 100, 1)):
            ys = [e[key][k] * scale for e in steps]
            out.append(f"{title}: {ys[-1]:.{digits}f} at step {total} (range "
                       f"{min(ys):.{digits}f} to {max(ys):.{digits}f})")
        return out

    last_relu = len(start["layers"]) - 2
    assert start["layers"][last_relu].endswith("ReLU")
    expect(page.locator("#t-layer")).to_have_value(str(last_relu))
    expect(page.locator("#c-stats figcaption")).to_have_text(stats_captions(last_relu))
    page.select_option("#t-layer", "0")
    expect(page.locator("#c-stats figcaption")).to_have_text(stats_captions(0))
    page.select_option("#t-layer", str(last_relu))

    # the schedule: the learning rate peaks where OneCycleLR peaks, the momentum (cycled
    # against it) bottoms out there; both lines start lower/higher than that
    drawn = page.evaluate(LINE_EXTREMES)
    px_per_step = drawn["width"] / total
    peak_step = one_cycle_peak(total)
    assert int(np.argmax([e["lr"] for e in steps])) + 1 == peak_step
    assert abs(drawn["blue"][0] - peak_step * px_per_step) <= 1.5 * px_per_step, drawn
    assert abs(drawn["orange"][0] - peak_step * px_per_step) <= 1.5 * px_per_step, drawn
    assert drawn["blue"][1] < 0.05 * drawn["height"] < 0.8 * drawn["height"] < drawn["orange"][1]

    IMAGES.mkdir(parents=True, exist_ok=True)
    path = IMAGES / "studio-training.png"
    page.screenshot(path=str(path), full_page=True)
    from PIL import Image

    with Image.open(path) as im:
        assert im.size[0] == 1280 and im.size[1] >= 800
        assert np.asarray(im.convert("L")).std() > 10  # a rendered page, not a blank one


def test_one_run_at_a_time_and_cancel(
    start_studio: Any, page: Any, browser: Any, shared_data: Path
) -> None:
    from playwright.sync_api import expect

    studio = start_studio(data_dir=shared_data)  # full MNIST: 20,000 digits to train on
    page.goto(studio.url + "/training")
    # 7,500 steps asked at batch 8 (the studio stops at 3,000): still going when others look
    fill_run(page, model="simple", batch=8, n_train=20_000, epochs=3)
    with page.expect_response("**/api/training/runs") as started:
        page.click("#t-start")
    run_id = started.value.json()["run_id"]
    expect(page.locator("#t-status")).to_have_text(re.compile(r"^step \d+ / 7500, loss "))
    expect(page.locator("#t-start")).to_be_disabled()

    # someone else, in another browser, asks for a run meanwhile: told why not, in words
    other = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    try:
        other.goto(studio.url + "/training")
        other.click("#t-start")
        expect(other.locator("#t-error")).to_have_text(
            f"run {run_id} is still training (one run at a time): wait for it to end or "
            "cancel it first")
        expect(other.locator("#t-start")).to_be_enabled()
    finally:
        other.context.close()

    page.click("#t-cancel")
    expect(page.locator("#t-status")).to_have_text(re.compile(r"^cancelled after [\d.]+ s"))
    expect(page.locator("#t-start")).to_be_enabled()
    expect(page.locator("#t-cancel")).to_be_disabled()
    events = run_events(page, studio.url, run_id)
    assert events[-1]["type"] == "done" and events[-1]["cancelled"] is True
    steps = [e["step"] for e in events if e["type"] == "step"]
    assert steps and steps[-1] < 3000  # stopped by the cancel, before the studio's bound
