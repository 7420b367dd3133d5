"""``folder:PATH`` datasets: a folder of the user's own recordings, one sub-folder per class.

Layout::

    PATH/<class>/<recording>             # split here (seeded, stratified), or
    PATH/train/<class>/<recording>  and  PATH/test/<class>/<recording>

Class names are the sorted sub-folder names (hidden folders, starting with ``.``, are
ignored); class ``i`` is the ``i``-th name. Recordings are the files below a class folder
(recursively, sorted by path; hidden files ignored) in any format of
:mod:`qsnn_deploy.data.formats` (``.bin``, ``.aedat``, ``.aedat4``, ``.npy``).

Split rule without ``train/``/``test/``: for each class in sorted order, the recordings
(sorted by path) are permuted by ``numpy.random.default_rng(seed)`` (one generator, drawn
class after class) and the first ``ceil(test_fraction · n)`` of them are the test split,
the rest the training split. Every class must keep at least one recording in each split.

Each recording's ``t`` is counted from its first event. The sensor size is
``options.sensor_size``, else the ``output_size`` of the folder's ``recording.json`` (written by
``qsnn-deploy record``), else inferred over all recordings of both splits (so train and test
agree): ``(max x + 1, max y + 1, max(2, max p + 1))``, replaced by a known sensor (34x34
N-MNIST, 128x128 DVS128, 240x180 DAVIS240, 346x260 DAVIS346, 640x480) when the recordings
fit it and reach at least 90 % of its width and height. The window is ``options.window_us``
(later events are dropped) or the longest recording of both splits. With
``options.input_size`` events are downsampled by one integer factor (``x // f, y // f``).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..progress import Log, Progress, ProgressMode
from ..progress import log as default_log
from .dataset import EventDataset
from .events import validate_events
from .formats import SUPPORTED_SUFFIXES, read_recording, relative_time
from .options import DataOptions
from .origin import RECORDING_FILE, origin_record, read_recording_info
from .transforms import apply_transforms, plan

__all__ = ["KNOWN_SENSORS", "SPLITS", "load_folder", "infer_sensor_size", "list_recordings", "split_recordings"]

SPLITS = ("train", "test")
KNOWN_SENSORS = {
    (34, 34): "N-MNIST (ATIS crop)",
    (128, 128): "DVS128",
    (240, 180): "DAVIS240",
    (346, 260): "DAVIS346",
    (640, 480): "640x480 (DVXplorer / Prophesee VGA)",
}
"""Known sensor (W, H) -> name, the sizes inferred sizes snap to."""
KNOWN_SENSOR_FILL = 0.9


def infer_sensor_size(max_x: int, max_y: int, max_p: int) -> tuple[tuple[int, int, int], str]:
    """Sensor size (W, H, P) from the largest coordinates seen, and how it was chosen."""
    W, H, P = max_x + 1, max_y + 1, max(2, max_p + 1)
    for (kw, kh), name in sorted(KNOWN_SENSORS.items()):
        if W <= kw and H <= kh and W >= KNOWN_SENSOR_FILL * kw and H >= KNOWN_SENSOR_FILL * kh:
            return (kw, kh, P), f"{name} {kw}x{kh} (events reach {W}x{H})"
    return (W, H, P), f"max x + 1, max y + 1 = {W}x{H} (no known sensor fits)"


def _visible(p: Path) -> bool:
    return not p.name.startswith(".")


def list_recordings(folder: Path) -> tuple[tuple[str, ...], list[list[Path]]]:
    """Class names (sorted sub-folders) and each class's recordings (sorted paths).

    Raises:
        InputError: missing folder, no class folders, a class without recordings, files
            with unsupported suffixes (all listed).
    """
    where = str(folder)
    if not folder.exists():
        raise InputError(
            "Dataset folder not found", where, "check the path given after folder: (one sub-folder per class)"
        )
    if not folder.is_dir():
        raise InputError(
            "The dataset path is not a folder", where, "give a folder with one sub-folder of recordings per class"
        )
    classes = tuple(sorted(d.name for d in folder.iterdir() if d.is_dir() and _visible(d)))
    if not classes:
        raise InputError(
            "The dataset folder has no class sub-folders",
            where,
            f"put each class's recordings in its own sub-folder, e.g. {folder / 'class_a' / 'rec0.npy'}",
        )
    files, unknown, empty = [], [], []
    for name in classes:
        found = sorted(
            (
                p
                for p in (folder / name).rglob("*")
                if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts)
            ),
            key=lambda p: p.relative_to(folder).as_posix(),
        )
        unknown += [p for p in found if p.suffix.lower() not in SUPPORTED_SUFFIXES]
        rec = [p for p in found if p.suffix.lower() in SUPPORTED_SUFFIXES]
        if not rec:
            empty.append(name)
        files.append(rec)
    if unknown:
        shown = ", ".join(str(p.relative_to(folder)) for p in unknown[:5])
        more = f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
        suffixes = sorted({p.suffix or "(no suffix)" for p in unknown})
        raise InputError(
            f"{len(unknown)} file(s) of unsupported type ({', '.join(suffixes)}): {shown}{more}",
            where,
            f"keep only recordings of type {', '.join(SUPPORTED_SUFFIXES)} in the class folders "
            "(move other files out, or convert them to a .npy structured array x, y, t, p)",
        )
    if empty:
        raise InputError(
            f"Class folder(s) without recordings: {', '.join(empty)}",
            where,
            "add recordings to them or remove the empty class folders",
        )
    return classes, files


def split_recordings(
    files: list[list[Path]], classes, test_fraction: float, seed: int, where: str
) -> dict[str, list[tuple[Path, int]]]:
    """The seeded stratified split of the module doc: ``{"train": [(path, label)], "test": ...}``."""
    if not isinstance(test_fraction, (int, float)) or not 0.0 < float(test_fraction) < 1.0:
        raise InputError(
            f"test_fraction {test_fraction!r} is not between 0 and 1 (exclusive)",
            where,
            "hold out a share such as 0.2, or give train/ and test/ sub-folders",
        )
    rng = np.random.default_rng(seed)
    out: dict[str, list[tuple[Path, int]]] = {"train": [], "test": []}
    bad = []
    for label, (name, recs) in enumerate(zip(classes, files)):
        n = len(recs)
        n_test = math.ceil(n * float(test_fraction) - 1e-9)
        perm = rng.permutation(n)
        if n_test < 1 or n_test >= n:
            bad.append(f"{name} ({n} recording{'s' if n != 1 else ''})")
            continue
        test = set(perm[:n_test].tolist())
        for i, p in enumerate(recs):
            out["test" if i in test else "train"].append((p, label))
    if bad:
        raise InputError(
            f"test_fraction {test_fraction} leaves no training or no test recording for class(es) {', '.join(bad)}",
            where,
            "add recordings (at least 2 per class), change the test fraction, or give train/ and test/ sub-folders",
        )
    return out


def _read_all(items: list[tuple[Path, int]], sensor_size, progress: ProgressMode, desc: str) -> list[np.ndarray]:
    out = []
    for path, _ in Progress(items, desc=desc, unit="file", progress=progress, min_total=20):
        ev = relative_time(read_recording(path))
        if sensor_size is not None:
            ev = validate_events(ev, sensor_size, str(path))
        out.append(ev)
    return out


def load_folder(
    root: str | Path,
    split: str,
    seed: int = 0,
    options: DataOptions = DataOptions(),
    progress: ProgressMode = True,
    log: Log | None = None,
) -> EventDataset:
    """Load the ``split`` ("train" or "test") of a folder dataset (rules: module doc).

    ``EventDataset.name`` is ``folder:ROOT`` followed by the split rule in brackets, e.g.
    ``folder:data [seed 0: ceil(0.2*n) per class held out]`` or ``folder:data [train/ test/]``.
    ``log`` receives what was inferred (default: stderr). Window, denoising, pooling to
    ``options.input_size`` and augmentation of the train split: :mod:`qsnn_deploy.data.transforms`.

    Raises:
        InputError: a missing folder, no class folders, a class without recordings, unknown
            file types (listed), unreadable/corrupt files (named), ``train/`` and ``test/``
            with different classes, a split leaving a class empty, events outside
            ``options.sensor_size``.
    """
    log = log or default_log
    root = Path(root)
    where = str(root)
    if split not in SPLITS:
        raise InputError(f"Unknown split '{split}' for the folder dataset", where, f"use one of: {', '.join(SPLITS)}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InputError(f"Seed {seed!r} is not a non-negative integer", where, "pass an integer seed such as 0")
    has = {s: (root / s).is_dir() for s in SPLITS}
    if all(has.values()):
        found = {s: list_recordings(root / s) for s in SPLITS}
        if found["train"][0] != found["test"][0]:
            tr, te = set(found["train"][0]), set(found["test"][0])
            raise InputError(
                "train/ and test/ hold different class folders (only in train/: "
                f"{', '.join(sorted(tr - te)) or '-'}; only in test/: {', '.join(sorted(te - tr)) or '-'})",
                where,
                "give both splits the same class sub-folders",
            )
        classes = found["train"][0]
        items = {s: [(p, lbl) for lbl, recs in enumerate(found[s][1]) for p in recs] for s in SPLITS}
        rule = "train/ test/"
    elif any(has.values()):
        only = next(s for s in SPLITS if has[s])
        other = next(s for s in SPLITS if not has[s])
        raise InputError(
            f"The dataset folder has a {only}/ sub-folder but no {other}/",
            where,
            f"add {other}/ with the same class folders, or move the class folders "
            f"out of {only}/ to have the split made automatically",
        )
    else:
        classes, files = list_recordings(root)
        items = split_recordings(files, classes, options.test_fraction, int(seed), where)
        rule = f"seed {int(seed)}: ceil({options.test_fraction}*n) per class held out"

    # read both splits: sensor size and window must agree between train and test
    other = "test" if split == "train" else "train"
    recorded = read_recording_info(root)
    given = options.sensor_size
    if given is None and recorded is not None:
        given = tuple(recorded["output_size"])
        log(f"folder:{root}: sensor size {given[0]}x{given[1]}x{given[2]} from {RECORDING_FILE}")
    ev = {s: _read_all(items[s], given, progress, f"reading {root.name}/{s}") for s in (split, other)}
    everything = ev[split] + ev[other]
    if given is not None:
        sensor = tuple(int(v) for v in given)
    else:

        def top(f):
            return max(int(e[f].max()) for e in everything)

        sensor, how = infer_sensor_size(top("x"), top("y"), top("p"))
        log(
            f"folder:{root}: sensor size {sensor[0]}x{sensor[1]}x{sensor[2]} inferred from "
            f"{len(everything)} recordings: {how}"
        )
    if options.window_us is not None:
        duration = int(options.window_us)
    else:
        duration = max(int(e["t"][-1]) for e in everything) + 1
        log(f"folder:{root}: time window {duration} µs (the longest recording)")
    # window, denoise, pooling to the network's input and (train split) augmentation: the shared chain
    chain = plan(sensor, options, duration)
    rng = np.random.default_rng([int(seed), 0xA06])
    events = [apply_transforms(e, sensor, options, split == "train", rng, duration) for e in ev[split]]
    if chain.factor != (1, 1):
        log(
            f"folder:{root}: pooled {sensor[0]}x{sensor[1]} by {chain.factor[0]}x{chain.factor[1]} to "
            f"{chain.out_size[0]}x{chain.out_size[1]}"
        )
    sensor = chain.out_size
    labels = np.array([lbl for _, lbl in items[split]], dtype=np.int64)
    if recorded is not None and options.sensor_size is None:
        origin = origin_record(recorded["sensor_size"], chain.factor, recorded["stage"])
    else:
        origin = origin_record(chain.sensor_size, chain.factor)
    return EventDataset(
        name=f"folder:{root} [{rule}]",
        split=split,
        events=events,
        labels=labels,
        sensor_size=sensor,
        n_classes=len(classes),
        duration_us=duration,
        classes=classes,
        origin=origin,
    )
