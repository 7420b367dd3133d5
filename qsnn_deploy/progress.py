"""Progress and log lines on stderr, the same for every stage: a redrawn bar on a terminal, plain lines elsewhere.

Every ``progress`` argument in the library takes a mode: ``"auto"`` (a redrawn tqdm bar when the stream is a
terminal, plain lines otherwise), ``"on"`` (always a redrawn bar), ``"off"`` (no bar and no progress lines; log
lines such as per-epoch summaries, notes and warnings still go out). ``True`` means ``"auto"``, ``False`` and
``None`` mean ``"off"``.

Plain lines are written by count, never by clock: one when a loop ends (or is left), and for a long loop
(at least :data:`LONG_LOOP` items) one at every ``100 / PLAIN_STEPS`` % of it; a loop of unknown length gets
one every :data:`PLAIN_EVERY` items. A line carries what the bar shows: description, n/total, share, elapsed
time, rate and the postfix values (loss, accuracy, ...).
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, Generic, Literal, TextIO

if TYPE_CHECKING:  # typing.TypeVar takes a default from Python 3.13 on
    from typing_extensions import TypeVar

    T = TypeVar("T", default=Any)  # the item type; Any for a Progress made from a count alone
else:
    from typing import TypeVar

    T = TypeVar("T")

Mode = Literal["auto", "on", "off"]
MODES: tuple[str, ...] = ("auto", "on", "off")
ProgressMode = bool | Mode | None
Log = Callable[[str], None]

PLAIN_STEPS = 10  # a long loop gets a plain line at every 10 % of its total
LONG_LOOP = 50  # loops with fewer items get only their closing line
PLAIN_EVERY = 100  # items between plain lines when the total is unknown

_live_bars = 0  # redrawn (tqdm) bars open now


def resolve(progress: ProgressMode) -> Mode:
    """The mode of a ``progress`` argument: a mode name, or a bool (True: ``"auto"``, False/None: ``"off"``)."""
    if progress is None or progress is False:
        return "off"
    if progress is True:
        return "auto"
    if progress in MODES:
        return progress
    raise ValueError(f"progress must be one of {', '.join(MODES)} or a bool, not {progress!r}")


def enabled(progress: ProgressMode) -> bool:
    """Whether ``progress`` shows anything (a bar or plain lines)."""
    return resolve(progress) != "off"


def redraws(progress: ProgressMode, stream: TextIO | None = None) -> bool:
    """Whether ``progress`` redraws a bar on ``stream`` (stderr by default): ``"on"``, or ``"auto"`` on a TTY."""
    mode = resolve(progress)
    if mode != "auto":
        return mode == "on"
    stream = sys.stderr if stream is None else stream
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):  # no isatty, or a closed stream
        return False


def _write(message: str, stream: TextIO) -> None:
    if _live_bars:
        from tqdm import tqdm

        tqdm.write(message, file=stream)
    else:
        print(message, file=stream, flush=True)


def log(message: str) -> None:
    """Write one line to stderr without breaking a live progress bar (the default ``log`` of every stage)."""
    _write(message, sys.stderr)


def silent(message: str) -> None:
    """A ``log`` that drops its line (processes that do not report)."""


class Progress(Generic[T]):
    """Progress over an iterable or a count, shown as ``progress`` says (see the module docstring).

    Use it like tqdm: iterate over it, or call :meth:`update` (as a context manager, or call :meth:`close`);
    :meth:`set_postfix` adds values to the bar and to plain lines. ``min_total``: show nothing for loops with
    fewer items. ``stream``: where it writes (stderr by default).
    """

    def __init__(
        self,
        iterable: Iterable[T] | None = None,
        *,
        total: int | None = None,
        desc: str = "",
        unit: str = "it",
        progress: ProgressMode = "auto",
        leave: bool = False,
        min_total: int = 0,
        stream: TextIO | None = None,
    ):
        if total is None and iterable is not None:
            try:
                total = len(iterable)  # type: ignore[arg-type]
            except TypeError:
                total = None
        self.iterable, self.total, self.desc, self.unit = iterable, total, desc, unit
        self.stream = sys.stderr if stream is None else stream
        self.n = 0
        self.postfix: dict[str, str] = {}
        self._t0 = time.monotonic()
        self._lines_at = 0  # the step of the last plain line
        self._closed = False
        self.enabled = enabled(progress) and (total is None or total >= min_total)
        self._bar = None
        if self.enabled and redraws(progress, self.stream):
            global _live_bars
            from tqdm import tqdm

            self._bar = tqdm(total=total, desc=desc or None, unit=unit, file=self.stream, leave=leave)
            _live_bars += 1

    def __iter__(self) -> Iterator[T]:
        if self.iterable is None:
            raise TypeError("Progress was made without an iterable; call update() instead")
        try:
            for item in self.iterable:
                yield item
                self.update()
        finally:
            self.close()

    def __enter__(self) -> Progress[T]:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def update(self, n: int = 1) -> None:
        """Count ``n`` more items done."""
        self.n += n
        if self._bar is not None:
            self._bar.update(n)
        elif self.enabled:
            step = self._step()
            if step is not None and self.n // step > self._lines_at and (self.total is None or self.n < self.total):
                self._lines_at = self.n // step
                self._line()

    def set_postfix(self, **values: Any) -> None:
        """Values shown after the count (``loss=0.31, acc=0.9``); numbers are written with 4 significant digits."""
        self.postfix = {k: v if isinstance(v, str) else f"{v:.4g}" for k, v in values.items()}
        if self._bar is not None:
            self._bar.set_postfix(self.postfix)

    def close(self) -> None:
        """End the bar; in plain mode write the closing line (when any item was done)."""
        if self._closed:
            return
        self._closed = True
        if self._bar is not None:
            global _live_bars
            self._bar.close()
            _live_bars -= 1
        elif self.enabled and self.n:
            self._line()

    def _step(self) -> int | None:
        if self.total is None:
            return PLAIN_EVERY
        if self.total < LONG_LOOP:
            return None
        return math.ceil(self.total / PLAIN_STEPS)

    def line(self) -> str:
        """The plain line for the current state."""
        elapsed = time.monotonic() - self._t0
        unit = f" {self.unit}" if self.unit else ""
        count = f"{self.n}/{self.total}{unit} ({100 * self.n / self.total:.0f} %)" if self.total else f"{self.n}{unit}"
        parts = [count, f"{elapsed:.1f} s"]
        if elapsed > 0 and self.n:
            parts.append(f"{self.n / elapsed:.3g}{unit}/s")
        parts += [f"{k}={v}" for k, v in self.postfix.items()]
        return (f"{self.desc}: " if self.desc else "") + ", ".join(parts)

    def _line(self) -> None:
        _write(self.line(), self.stream)


def progress_wrapper(
    progress: ProgressMode, desc: str, unit: str = "it", **options: Any
) -> Callable[[Iterable[Any]], Progress[Any]] | None:
    """``iterable -> Progress`` for APIs that take a wrapping callable (None when ``progress`` is off)."""
    if not enabled(progress):
        return None
    return lambda iterable: Progress(iterable, desc=desc, unit=unit, progress=progress, **options)
