"""Progress of a long run on stderr: a rich bar on a terminal, plain lines in a log."""

from __future__ import annotations

import sys
import time
from datetime import timedelta
from types import TracebackType
from typing import IO

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

PLAIN_EVERY_SECONDS = 2.0


class RateColumn(ProgressColumn):
    def __init__(self, unit: str) -> None:
        super().__init__()
        self.unit = unit

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:,.0f} {self.unit}/s" if speed else f"- {self.unit}/s")


def _clock(seconds: float) -> str:
    return str(timedelta(seconds=round(seconds)))


class Bar:
    """Counts done of `total` things; draws a bar (terminal) or a line every 2 s (otherwise)."""

    def __init__(
        self, description: str, total: int, unit: str, enabled: bool, stream: IO[str] | None = None
    ) -> None:
        self.description = description
        self.total = total
        self.unit = unit
        self.enabled = enabled
        self.stream = stream or sys.stderr
        self.done = 0
        self.started = time.monotonic()
        self._last_line = 0.0
        self._drawn = -1
        self._rich: Progress | None = None
        if enabled and self.stream.isatty():
            self._rich = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TaskProgressColumn(),
                RateColumn(unit),
                TextColumn("elapsed"),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                console=Console(file=self.stream),
            )
            self._task = self._rich.add_task(description, total=total)

    def __enter__(self) -> Bar:
        if self._rich is not None:
            self._rich.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._rich is not None:
            self._rich.stop()
        elif self.enabled and self._drawn != self.done:
            self._line()

    def advance(self, count: int) -> None:
        self.done += count
        if self._rich is not None:
            self._rich.advance(self._task, count)
        elif self.enabled and time.monotonic() - self._last_line >= PLAIN_EVERY_SECONDS:
            self._line()

    def _line(self) -> None:
        self._last_line = now = time.monotonic()
        self._drawn = self.done
        elapsed = now - self.started
        rate = self.done / elapsed if elapsed > 0 else 0.0
        left = (self.total - self.done) / rate if rate > 0 else 0.0
        share = 100 * self.done // max(self.total, 1)
        self.stream.write(
            f"{self.description}: {self.done:,}/{self.total:,} {self.unit} {share}% "
            f"{rate:,.0f} {self.unit}/s elapsed {_clock(elapsed)} ETA {_clock(left)}\n"
        )
        self.stream.flush()
