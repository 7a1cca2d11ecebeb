"""The README's pictures of the HTML page are made here, in headless Chromium: a big failed run
(its failure listed first, with the traceback) and the timeline of a run on two workers.

Each run writes the screenshots to a temporary folder and checks them; with
``FERROFLOW_SCREENSHOTS=docs/images`` it writes the ones committed under ``docs/images/`` that
README shows (regenerate them after changing the page)."""

from __future__ import annotations

import base64
import os
import struct
import subprocess
import sys
import time
from pathlib import Path

from browser import Browser
from ferroflow import task

SCRIPT = Path(sys.executable).parent / "ferroflow"


@task
def square(x: int) -> int:
    if x == 1234:
        raise ValueError(f"bad input {x}")
    return x * x


@task
def total(**values: int) -> int:
    return sum(values.values())


@task.graph
def Campaign(n: int) -> int:
    return total(**{f"v{i}": square(x=i).result for i in range(n)}).result  # type: ignore[no-any-return]


@task
def step(x: int, seconds: float) -> int:
    time.sleep(seconds)
    return x + 1


@task.graph
def Pipeline(n: int) -> int:
    done = []
    for i in range(n):
        first = step(x=i, seconds=0.05 + 0.03 * (i % 4)).result
        done.append(step(x=first, seconds=0.04).result)
    return total(**{f"s{i}": d for i, d in enumerate(done)}).result  # type: ignore[no-any-return]


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def _page(pk: int, path: Path) -> None:
    done = subprocess.run(
        [str(SCRIPT), "view", str(pk), "-o", str(path)],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        timeout=300,
    )
    assert done.returncode == 0, done.stderr


def _target(tmp_path: Path) -> Path:
    chosen = os.environ.get("FERROFLOW_SCREENSHOTS")
    target = Path(chosen) if chosen else tmp_path
    target.mkdir(parents=True, exist_ok=True)
    return target


def test_screenshots_of_a_big_failed_run_and_of_the_timeline(tmp_path: Path) -> None:
    failed = Campaign.build(3000)
    failed.run(raise_on_error=False, progress=False)
    timed = Pipeline.build(12)
    timed.run(max_workers=2, progress=False)
    assert failed.pk is not None and timed.pk is not None
    _page(failed.pk, tmp_path / "failed.html")
    _page(timed.pk, tmp_path / "timeline.html")
    target = _target(tmp_path)
    with Browser() as browser:
        browser.open((tmp_path / "failed.html").as_uri())
        listed = browser.evaluate(
            "Array.from(document.querySelectorAll('#ff-failures .ff-failure'))"
            ".map(e => e.dataset.path)"
        )
        assert listed == ["Campaign/square1234"]
        shot = base64.b64decode(browser.send("Page.captureScreenshot", format="png")["data"])
        assert _png_size(shot) == (1280, 800)
        (target / "failed-run-page.png").write_bytes(shot)

        browser.open((tmp_path / "timeline.html").as_uri())
        box = browser.evaluate(
            "(() => { const s = document.getElementById('ff-timeline');"
            " s.scrollIntoView(); const r = s.getBoundingClientRect();"
            " return [r.x, r.y, r.width, r.height, s.hidden,"
            " document.querySelectorAll('#ff-timeline-svg .ff-bar').length]; })()"
        )
        x, y, width, height, hidden, bars = box
        assert not hidden and bars == 25 and width > 600 and height > 60
        shot = base64.b64decode(
            browser.send(
                "Page.captureScreenshot",
                format="png",
                clip={"x": x, "y": y, "width": width, "height": height, "scale": 1},
            )["data"]
        )
        assert _png_size(shot) == (round(width), round(height))
        (target / "timeline.png").write_bytes(shot)
