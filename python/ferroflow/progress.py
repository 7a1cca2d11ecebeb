"""Live progress of ``WorkGraph.run()``: tasks done, failed and left of the total, rate, ETA.

Why it is built like this:

* **A polling thread, not a callback per task.** The Rust core keeps its per-state totals in
  atomic counters; :meth:`ferroflow._core.Run.counts` reads them in about a microsecond. A
  daemon thread samples them every :data:`INTERVAL` seconds, so the workers never run one line
  of display code and a 100k-task run is not measurably slower
  (``benches/progress_overhead.py``). Tasks added by graph tasks while the run goes on show up
  in the total at the next sample, so the ETA is an estimate for the work known so far.
* **Only where someone watches.** By default the display appears on a terminal (or in a Jupyter
  kernel) and only once a run has lasted :data:`DELAY` seconds, so quick runs and the how-to
  print nothing; output that goes to a file or a pipe gets nothing. ``run(progress=True)``
  forces it on (logs, tests), ``run(progress=False)`` off; with the default ``progress=None``
  the environment variable ``FERROFLOW_PROGRESS`` decides (``0``/``false``/``off``: never,
  ``1``/``true``/``on``: always) before the terminal test does. An explicit argument wins.
* **Nothing required.** With `rich <https://rich.readthedocs.io>`_ installed (the ``progress``
  extra) a terminal gets a bar; otherwise one text line rewritten in place with ``\\r``. In a
  Jupyter notebook with ``ipywidgets`` installed the cell shows a progress widget (a bar and
  the numbers, coloured by the outcome when the run ends); without it, the ``\\r`` line.
  Where the stream is not a terminal (forced on), a full line is written every
  :data:`LOG_INTERVAL` seconds, readable in a log.
* **Never in the way.** The display writes to standard error, and any error while drawing
  stops the display, never the run. Lines printed or logged *outside* tasks while it draws
  (task output is captured: :mod:`ferroflow.engine.capture`) go through the stream proxies to
  :meth:`ProgressDisplay.write_above`, which prints them above the bar instead of through it.

The final line shows the totals when the run ends (also when it failed or was interrupted)::

    ScatterGatherSquare: 100,000/100,000 done | 0 failed | 2.8 s, 35,412 tasks/s
"""

from __future__ import annotations

import functools
import importlib.util
import os
import shutil
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Literal, TextIO

from .engine.capture import install, live_display, unwrap

__all__ = [
    "DELAY",
    "ENV_VAR",
    "INTERVAL",
    "LOG_INTERVAL",
    "ProgressDisplay",
    "choose_mode",
    "format_line",
    "show_progress",
]

#: Environment variable consulted when ``run(progress=None)``.
ENV_VAR = "FERROFLOW_PROGRESS"
#: Seconds between two samples of the counters on a terminal.
INTERVAL = 0.2
#: Seconds between two lines when the stream is not a terminal (forced display).
LOG_INTERVAL = 1.0
#: Seconds a run must last before the default (not forced) display appears.
DELAY = 0.5
#: Seconds of samples the rate (and so the ETA) is computed over.
RATE_WINDOW = 5.0

#: Width of rich's bar (the numbers beside it need the rest of an 80-column terminal).
_BAR = 20

Mode = Literal["rich", "line", "log", "widget"]
Counts = Callable[[], Mapping[str, int]]

_OFF = frozenset({"0", "false", "no", "off"})
_ON = frozenset({"1", "true", "yes", "on", "force"})


def _is_terminal(stream: TextIO) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):  # closed or file-like without isatty
        return False


def _is_jupyter(stream: TextIO) -> bool:
    # ipykernel replaces sys.stdout/sys.stderr with its OutStream; it is no tty, yet a person
    # watches it (and it honours "\r").
    return type(stream).__module__.startswith("ipykernel")


@functools.cache
def _has_ipywidgets() -> bool:
    return importlib.util.find_spec("ipywidgets") is not None


@functools.cache
def _has_rich() -> bool:
    # looked up, not imported: a quick run that never draws should not pay rich's import
    return importlib.util.find_spec("rich") is not None


def choose_mode(progress: bool | None, stream: TextIO) -> tuple[Mode, bool] | None:
    """How to show progress on ``stream``, or ``None`` for not at all.

    Returns ``(mode, forced)``; ``forced`` displays are shown from the first sample, the
    others only after :data:`DELAY` seconds. ``progress`` is ``run()``'s argument.
    """
    if progress is None:
        env = os.environ.get(ENV_VAR, "").strip().lower()
        if env in _OFF:
            return None
        forced = env in _ON
    else:
        if not progress:
            return None
        forced = True
    jupyter = _is_jupyter(stream)
    terminal = _is_terminal(stream) and not jupyter
    if not (terminal or jupyter or forced):
        return None
    if terminal and os.environ.get("TERM") != "dumb" and _has_rich():
        return "rich", forced
    if jupyter and _has_ipywidgets():
        return "widget", forced
    if terminal or jupyter:
        return "line", forced
    return "log", forced


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(seconds + 0.5), 60)
    if minutes < 60:
        return f"{minutes}:{secs:02d} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d} h"


def format_line(
    counts: Mapping[str, int],
    elapsed: float,
    rate: float | None,
    *,
    final: bool = False,
    compact: bool = False,
) -> str:
    """The numbers of one progress sample as text (without the graph's name).

    ``done`` counts finished tasks; ``left`` is what is not yet terminal (waiting or running;
    the core's counters do not tell running tasks apart, a ``running`` entry is shown when
    they do). Skipped and cancelled tasks are named only when there are some. ``unexpanded``
    counts graph tasks (and zones) whose work is not known yet: while there are some, the
    total is a lower bound and there is no ETA. A final line of a run with cancelled tasks
    ends ``CANCELLED``. ``compact`` leaves out ``left``, ``running`` and the rate, for narrow
    terminals.
    """
    total = counts.get("total", 0)
    parts = [f"{counts.get('finished', 0):,}/{total:,} done", f"{counts.get('failed', 0):,} failed"]
    for key in ("skipped", "cancelled"):
        if counts.get(key):
            parts.append(f"{counts[key]:,} {key}")
    if final:
        terminal = total - counts.get("remaining", 0)
        fast = elapsed > 0 and terminal and not compact
        parts.append(_duration(elapsed) + (f", {terminal / elapsed:,.0f} tasks/s" if fast else ""))
        if counts.get("cancelled"):
            parts.append("CANCELLED")
        return " | ".join(parts)
    left = counts.get("remaining", 0)
    unknown = counts.get("unexpanded", 0)
    if not compact:
        if "running" in counts:
            parts.append(f"{counts['running']:,} running")
        parts.append(f"{left:,} left" + (f" + {unknown:,} graphs to expand" if unknown else ""))
        if rate is not None and rate > 0:
            parts.append(f"{rate:,.0f} tasks/s")
    known = rate is not None and rate > 0 and not unknown
    parts.append(f"ETA {_duration(left / rate)}" if known and rate else "ETA ?")
    return " | ".join(parts)


class ProgressDisplay:
    """Samples ``counts()`` on a daemon thread and draws it on ``stream`` until :meth:`stop`.

    ``counts`` is a cheap callable returning the core's totals (``Run.counts``); ``mode`` is
    one of :func:`choose_mode`'s. Usable directly (tests, other front ends); ``run()`` goes
    through :func:`show_progress`.
    """

    def __init__(
        self,
        counts: Counts,
        name: str,
        *,
        stream: TextIO,
        mode: Mode = "log",
        forced: bool = True,
        interval: float | None = None,
        delay: float | None = None,
    ) -> None:
        self.counts = counts
        self.name = name
        self.stream = stream
        self.mode: Mode = mode
        self.interval = (
            interval if interval is not None else (LOG_INTERVAL if mode == "log" else INTERVAL)
        )
        self.forced = forced
        self.delay = delay if delay is not None else (0.0 if forced else DELAY)
        self.shown = False  # something was drawn: the final line is owed
        self._start = 0.0
        self._samples: deque[tuple[float, int]] = deque()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._width = 0  # length of the last "\r" line, to blank it out
        self._rich: Any = None
        self._rich_task: Any = None
        self._widget: Any = None  # (bar, label) of the notebook widget, once displayed
        self._broken = False
        self._lock = threading.RLock()  # drawing, and writing text above the drawing
        self._line = ""  # the last "\r" line drawn, to draw again below printed text
        self._partial = ""  # text printed above the bar, waiting for the end of its line
        #: seconds spent sampling and drawing, on the thread and for the final line (what the
        #: display takes from the run at most; ``benches/progress_overhead.py`` reports it)
        self.draw_seconds = 0.0

    # -- life cycle ------------------------------------------------------------------------
    def start(self) -> None:
        self._start = time.monotonic()
        self._thread = threading.Thread(
            target=self._loop, name=f"ferroflow-progress-{self.name}", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop sampling; draw the final totals if anything was drawn or the display is
        forced."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        with self._lock:
            partial, self._partial = self._partial, ""
        if partial:
            self.write_above(self.stream, partial + "\n")
        try:
            if not self._broken and (self.shown or self.forced):
                self._draw(final=True)
        except Exception:
            self._broken = True
        finally:
            if self._rich is not None:
                rich, self._rich = self._rich, None
                began = time.perf_counter()
                try:
                    rich.stop()  # draws the final state once more, then a newline
                except Exception:
                    self._broken = True
                self.draw_seconds += time.perf_counter() - began

    def __enter__(self) -> ProgressDisplay:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _loop(self) -> None:
        if self._stop.wait(self.delay):
            return  # over before anyone needed to see it
        try:
            while True:
                self._draw(final=False)
                if self._stop.wait(self.interval):
                    return
        except Exception:
            # a closed stream, a broken terminal: stop drawing, let the run go on
            self._broken = True

    # -- drawing ---------------------------------------------------------------------------
    def _rate(self, now: float, terminal: int) -> float | None:
        samples = self._samples
        samples.append((now, terminal))
        while len(samples) > 2 and now - samples[0][0] > RATE_WINDOW:
            samples.popleft()
        then, before = samples[0]
        if now - then <= 0:  # one sample so far: the average since the start
            elapsed = now - self._start
            return terminal / elapsed if elapsed > 0 else None
        return (terminal - before) / (now - then)

    def _draw(self, *, final: bool) -> None:
        began = time.perf_counter()
        try:
            with self._lock:
                self._draw_sample(final)
        finally:
            self.draw_seconds += time.perf_counter() - began

    def write_above(self, stream: TextIO, text: str) -> None:
        """Write ``text`` (printed or logged outside any task, meant for ``stream``) above the
        bar: whole lines only, the bar drawn again below them; a partial line waits for its
        end (or for :meth:`stop`). Anything but a drawn terminal bar gets it as it comes."""
        with self._lock:
            if not self.shown or self._broken or self.mode in ("log", "widget"):
                stream.write(text)
                return
            if stream is not self.stream and not _is_terminal(stream):
                stream.write(text)  # a redirected stdout: not the bar's terminal
                return
            pending = self._partial + text
            lines, newline, self._partial = pending.rpartition("\n")
            if not newline:
                return
            try:
                if self._rich is not None:
                    from rich.text import Text

                    self._rich.console.print(Text(lines), highlight=False, soft_wrap=True)
                    return
                self.stream.write("\r" + " " * self._width + "\r")
                self.stream.flush()
                stream.write(lines + "\n")
                stream.flush()
                self.stream.write(self._line)
                self.stream.flush()
            except Exception:
                self._broken = True

    def _draw_sample(self, final: bool) -> None:
        counts = dict(self.counts())
        if not final and not counts.get("total"):
            return  # the graph's tasks are not submitted yet: nothing worth a line
        now = time.monotonic()
        elapsed = now - self._start
        terminal = counts.get("total", 0) - counts.get("remaining", 0)
        rate = self._rate(now, terminal)
        text = format_line(counts, elapsed, rate, final=final)
        if self.mode == "rich":
            self._draw_rich(counts, elapsed, rate, terminal, text, final)
        elif self.mode == "widget":
            self._draw_widget(counts, terminal, text, final)
        elif self.mode == "line":
            line = f"{self.name}: {text}"
            columns = self._columns()
            if len(line) >= columns:
                short = format_line(counts, elapsed, rate, final=final, compact=True)
                line = f"{self.name}: {short}"[: columns - 1]
            # a line as long as the terminal would wrap, and "\r" return to its second half
            pad = " " * max(self._width - len(line), 0)
            self._width = len(line)
            self._line = f"\r{line}"
            self.stream.write(f"\r{line}{pad}" + ("\n" if final else ""))
            self.stream.flush()
        else:
            self.stream.write(f"{self.name}: {text}\n")
            self.stream.flush()
        self.shown = True

    def _draw_widget(
        self, counts: Mapping[str, int], terminal: int, text: str, final: bool
    ) -> None:
        """The notebook widget: a bar of what ran (cancelled tasks not counted) and the line's
        numbers; when the run ends the bar turns green (all done), red (failures) or orange
        (cancelled). ipywidgets is optional: imported here, by name, only in a notebook."""
        if self._widget is None:
            widgets: Any = importlib.import_module("ipywidgets")
            show: Any = importlib.import_module("IPython.display").display
            bar = widgets.IntProgress(value=0, min=0, max=1, description=self.name)
            label = widgets.Label(value="")
            show(widgets.HBox([bar, label]))
            self._widget = (bar, label)
        bar, label = self._widget
        bar.max = max(counts.get("total", 0), 1)
        bar.value = terminal - counts.get("cancelled", 0)
        label.value = text
        if final:
            failed, cancelled = counts.get("failed"), counts.get("cancelled")
            bar.bar_style = "danger" if failed else "warning" if cancelled else "success"

    def _columns(self) -> int:
        if _is_jupyter(self.stream):
            return 10_000  # a notebook wraps nothing away
        return max(shutil.get_terminal_size().columns, 20)

    def _draw_rich(
        self,
        counts: Mapping[str, int],
        elapsed: float,
        rate: float | None,
        terminal: int,
        text: str,
        final: bool,
    ) -> None:
        if self._rich is None:
            from rich.console import Console
            from rich.progress import BarColumn, Progress, TextColumn

            self._rich = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(bar_width=_BAR),
                TextColumn("{task.fields[line]}"),
                console=Console(file=self.stream),
                auto_refresh=False,  # this thread decides when to draw
                # the stream proxies send other output to write_above (rich's own redirection
                # would bypass them, and with them the capture of task output)
                redirect_stdout=False,
                redirect_stderr=False,
            )
            self._rich_task = self._rich.add_task(self.name, total=None, line="")
            started = False
        else:
            started = True
        if len(self.name) + len(text) + _BAR + 3 > self._rich.console.width:
            # rich would squeeze the bar away and crop the numbers: fewer numbers instead
            text = format_line(counts, elapsed, rate, final=final, compact=True)
        total = max(counts.get("total", 0), 1)
        # a cancelled run's bar shows what ran, not every task reaching an end
        completed = terminal - counts.get("cancelled", 0)
        self._rich.update(self._rich_task, total=total, completed=completed, line=text)
        if not started:
            self._rich.start()
        if not final:  # stop() draws the final state
            self._rich.refresh()


@contextmanager
def show_progress(
    counts: Counts, name: str, progress: bool | None, stream: TextIO | None = None
) -> Iterator[ProgressDisplay | None]:
    """Show the progress of a run for the duration of the ``with`` block (see the module
    docstring for when it shows at all). ``stream`` defaults to ``sys.stderr`` as it is now."""
    out = unwrap(stream if stream is not None else sys.stderr)  # draw on the real stream
    chosen = choose_mode(progress, out)
    if chosen is None:
        yield None
        return
    mode, forced = chosen
    display = ProgressDisplay(counts, name, stream=out, mode=mode, forced=forced)
    install()  # the stream proxies, which route other output above the bar
    display.start()
    try:
        with live_display(display):
            yield display
    finally:
        display.stop()
