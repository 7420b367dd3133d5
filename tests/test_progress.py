"""The progress/log helper: redrawn bars only on a terminal (or when asked), plain lines by count elsewhere."""

import io

import pytest

from qsnn_deploy import progress as pg
from qsnn_deploy.progress import LONG_LOOP, PLAIN_EVERY, Progress, log, progress_wrapper, redraws, resolve


class FakeTTY(io.StringIO):
    """A text stream that says it is a terminal."""

    def isatty(self) -> bool:
        if self.closed:
            raise ValueError("I/O operation on closed file")  # as a real stream does
        return True


def _run(n: int, stream, progress="auto", **options) -> str:
    bar = Progress(range(n), desc="epoch 1/2", unit="batch", progress=progress, stream=stream, **options)
    for i in bar:
        bar.set_postfix(loss=f"{1 / (i + 1):.3f}", acc=0.5)
    return stream.getvalue()


@pytest.mark.parametrize(
    "value, mode", [(True, "auto"), (False, "off"), (None, "off"), ("auto", "auto"), ("on", "on"), ("off", "off")]
)
def test_resolve(value, mode):
    assert resolve(value) == mode


def test_resolve_refuses_unknown_modes():
    with pytest.raises(ValueError, match="auto, on, off"):
        resolve("yes")


def test_redraws_by_mode_and_stream():
    tty, pipe = FakeTTY(), io.StringIO()
    assert redraws("auto", tty) and not redraws("auto", pipe)
    assert redraws("on", pipe) and redraws("on", tty)
    assert not redraws("off", tty) and not redraws(False, tty)
    closed = FakeTTY()
    closed.close()
    assert not redraws("auto", closed)


def test_auto_on_a_terminal_redraws():
    out = _run(5, FakeTTY())
    assert "\r" in out and "epoch 1/2" in out
    assert pg._live_bars == 0


def test_on_redraws_even_in_a_file():
    out = _run(5, io.StringIO(), progress="on")
    assert "\r" in out
    assert pg._live_bars == 0


@pytest.mark.parametrize("stream", [FakeTTY(), io.StringIO()])
def test_off_writes_nothing(stream):
    assert _run(200, stream, progress="off") == ""
    assert progress_wrapper("off", "x") is None


def test_plain_lines_of_a_long_loop_every_ten_percent():
    out = _run(200, io.StringIO())
    assert "\r" not in out
    lines = out.splitlines()
    assert len(lines) == 10
    assert [line.split(": ", 1)[1].split(" ")[0] for line in lines] == [f"{20 * k}/200" for k in range(1, 11)]
    assert lines[0].startswith("epoch 1/2: 20/200 batch (10 %), ") and "batch/s" in lines[0]
    assert lines[-1].startswith("epoch 1/2: 200/200 batch (100 %), ")
    assert lines[-1].endswith("loss=0.005, acc=0.5")


def test_plain_short_loop_gives_one_line():
    lines = _run(LONG_LOOP - 1, io.StringIO()).splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"epoch 1/2: {LONG_LOOP - 1}/{LONG_LOOP - 1} batch (100 %)")


def test_plain_loop_left_early_says_where_it_stopped():
    stream = io.StringIO()
    for i in Progress(range(10), desc="d", progress="auto", stream=stream):
        if i == 3:
            break
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1 and lines[0].startswith("d: 3/10 it (30 %)")  # items 0-2 done, 3 left unfinished


def test_redrawn_loop_left_early_closes_its_bar():
    for i in Progress(range(10), progress="on", stream=io.StringIO()):
        if i == 3:
            break
    assert pg._live_bars == 0


def test_plain_updates_in_chunks_write_one_line_per_crossing():
    stream = io.StringIO()
    with Progress(total=1000, desc="gen", unit="sample", progress=True, stream=stream) as bar:
        for _ in range(4):
            bar.update(250)  # crosses 10/20 %, 30/40/50 %, ... in one step each
    counts = [line.split(": ", 1)[1].split(" ")[0] for line in stream.getvalue().splitlines()]
    assert counts == ["250/1000", "500/1000", "750/1000", "1000/1000"]


def test_plain_unknown_total_every_n_items():
    stream = io.StringIO()
    for _ in Progress(iter(range(2 * PLAIN_EVERY + 5)), desc="files", unit="file", stream=stream):
        pass
    counts = [line.split(": ", 1)[1].split(",")[0] for line in stream.getvalue().splitlines()]
    assert counts == [f"{PLAIN_EVERY} file", f"{2 * PLAIN_EVERY} file", f"{2 * PLAIN_EVERY + 5} file"]


def test_min_total_hides_short_loops():
    assert _run(5, io.StringIO(), min_total=20) == ""
    assert _run(5, FakeTTY(), min_total=20) == ""


def test_log_writes_one_line_to_stderr(capsys):
    log("hello")
    assert capsys.readouterr().err == "hello\n"


def test_log_under_a_live_bar_keeps_its_line_whole(monkeypatch):
    tty = FakeTTY()
    monkeypatch.setattr("sys.stderr", tty)
    bar = Progress(range(3), desc="live", progress="auto")
    for i in bar:
        if i == 1:
            log("a note")
    before, after = tty.getvalue().split("a note\n")
    assert before.endswith(" \r")  # the bar was wiped first, so the note starts its own line
    assert "live:  33%" in after  # and the bar came back below it
    assert pg._live_bars == 0


def test_wrapper_builds_bars_for_callback_apis():
    stream = io.StringIO()
    wrap = progress_wrapper("auto", "binned", "batch", stream=stream)
    assert list(wrap(range(3))) == [0, 1, 2]
    assert stream.getvalue().startswith("binned: 3/3 batch (100 %)")


def test_helper_sits_at_the_bottom():
    """No torch, no click, and tqdm only once a bar is redrawn: every stage and the CLI can import it."""
    import subprocess
    import sys

    code = (
        "import sys, qsnn_deploy.progress as p; p.log('x'); list(p.Progress(range(3), stream=open('/dev/null', 'w')))"
        "; bad = [m for m in ('torch', 'click', 'tqdm') if m in sys.modules]; assert not bad, bad"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
