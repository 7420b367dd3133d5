"""Real event datasets: N-MNIST, DVS Gesture and POKER-DVS through tonic, and MNIST-DVS.

Everything is read from a local data root (``--data-root``; default ``default_data_root()``:
``$QSNN_DEPLOY_DATA``, else ``<user cache>/qsnn-deploy/data``, i.e. ``~/.cache/qsnn-deploy/data``
on Linux). Nothing is downloaded unless ``DataOptions.download`` is set; without it a missing
dataset is an ``InputError`` (exit 3) that says what to fetch and where to put it, and a failed
download for want of a network is ``BackendUnavailable`` (exit 5) that says how to fetch it by hand.

Expected layout under the data root (tonic's own layout: ``<root>/<tonic class name>/...``):

- ``nmnist``:     ``NMNIST/Train/<digit>/*.bin`` and ``NMNIST/Test/<digit>/*.bin`` (the extracted
  ``train.zip``/``test.zip``; 40-bit N-MNIST records, t in µs). Folders named ``0``..``9``.
- ``dvsgesture``: ``DVSGesture/ibmGestureTrain/userNN_<lighting>/<label>.npy`` and
  ``DVSGesture/ibmGestureTest/...`` (tonic's preprocessed archives; ``(N, 4)`` arrays x, y, p,
  t in ms, which tonic turns into µs).
- ``pokerdvs``:   ``POKERDVS/pips_train/<cl|he|di|sp>/*.npy`` and ``POKERDVS/pips_test/...``
  (``(N, 4)`` arrays t, x, y, p; t in µs).
- ``mnist-dvs``:  tonic has no loader; the original release from
  http://www2.imse-cnm.csic.es/caviar/MNISTDVS.html — ``grabbed_data0.zip`` .. ``grabbed_data9.zip``
  extracted under ``MNIST-DVS/``, giving ``MNIST-DVS/grabbed_data<d>/scale16/mnist_<d>_scale16_<NNNN>.aedat``
  (jAER AEDAT 2.0, DVS128, t in µs). Only ``scale16`` (the largest digits) is used; files are found
  anywhere below ``MNIST-DVS/`` by name. There is no official split: a fixed-seed stratified
  ``test_fraction`` per digit is the test split.

The downloaded archive itself is not needed: unlike tonic's own check (archive present *and*
at least 10,000 / 100 / 20 files), a split counts as present when its extracted folder holds at
least one sample file. An archive present but not extracted is extracted (no network needed).

Decoded, windowed, denoised and downsampled recordings are cached with tonic's
``DiskCachedDataset`` (one HDF5 file per recording) under ``<data root>/.qsnn_cache/`` (or the
user cache, ``$QSNN_DEPLOY_CACHE`` or ``~/.cache/qsnn-deploy``, when the data root is read-only), keyed
by dataset, split and the deterministic transforms;
a second run reads only the cache, not the raw files. Delete the cache folder if the
raw files change.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import sys
import urllib.error
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import BackendUnavailable, InputError
from ..outputs import write_atomic
from ..progress import Progress, ProgressMode
from .dataset import EventDataset
from .events import EVENT_DTYPE, validate_events
from .options import DataOptions
from .origin import origin_record
from .transforms import apply_deterministic, augment, plan

CACHE_VERSION = 1
"""Bump when the cached content of a recording changes."""
SPLITS = ("train", "test")
MNIST_DVS_SCALE = 16
MNIST_DVS_SPLIT_SEED = 20_240_611
"""Fixed: the MNIST-DVS train/test split never changes with ``seed``."""


@dataclass(frozen=True)
class TonicSetInfo:
    """What we know about one real dataset.

    ``folder``: the sub-folder of the data root (tonic's class name); ``split_folders``: the
    per-split folders inside it (``None`` when the split is made by us); ``sample_suffix``: the
    file type of one recording; ``archives``: ``(split, file name, URL)`` of what to download;
    ``download_mb``: approximate total download size in MB (``None``: unknown);
    ``default_window_us``: the time window used when ``DataOptions.window_us`` is None (None:
    the longest recording of the split).
    """

    name: str
    title: str
    tonic_class: str | None
    folder: str
    sensor_size: tuple[int, int, int]
    classes: tuple[str, ...]
    split_folders: dict[str, str] | None
    sample_suffix: str
    archives: tuple[tuple[str, str, str], ...]
    download_mb: int | None
    home_page: str
    default_window_us: int | None
    auto_download: bool
    layout: str
    notes: str = ""

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    def download_hint(self, split: str | None = None) -> str:
        """``about N MB from URL`` (the split's archive when ``split`` is given; N is the whole dataset)."""
        size = f"about {self.download_mb} MB in all" if self.download_mb else "size unknown"
        urls = ", ".join(u for s, _, u in self.archives if split is None or s == split) or self.home_page
        return f"{size}; {split + ' split ' if split else ''}from {urls}"


KNOWN: dict[str, TonicSetInfo] = {
    "nmnist": TonicSetInfo(
        name="nmnist",
        title="N-MNIST (Orchard et al. 2015): MNIST digits seen by an ATIS sensor in three saccades",
        tonic_class="NMNIST",
        folder="NMNIST",
        sensor_size=(34, 34, 2),
        classes=tuple(str(i) for i in range(10)),
        split_folders={"train": "Train", "test": "Test"},
        sample_suffix=".bin",
        archives=(
            (
                "train",
                "train.zip",
                "https://data.mendeley.com/public-files/datasets/468j46mzdv/files/"
                "39c25547-014b-4137-a934-9d29fa53c7a0/file_downloaded",
            ),
            (
                "test",
                "test.zip",
                "https://data.mendeley.com/public-files/datasets/468j46mzdv/files/"
                "05a4d654-7e03-4c15-bdfa-9bb2bcbea494/file_downloaded",
            ),
        ),
        download_mb=1200,  # approximate: train.zip ~1 GB + test.zip ~0.17 GB
        home_page="https://www.garrickorchard.com/datasets/n-mnist",
        default_window_us=300_000,  # three 100 ms saccades; the last few ms are dropped
        auto_download=True,
        layout="NMNIST/Train/<0-9>/*.bin, NMNIST/Test/<0-9>/*.bin",
    ),
    "dvsgesture": TonicSetInfo(
        name="dvsgesture",
        title="IBM DVS Gesture (Amir et al. 2017): 11 hand and arm gestures, DVS128",
        tonic_class="DVSGesture",
        folder="DVSGesture",
        sensor_size=(128, 128, 2),
        classes=(
            "hand clapping",
            "right hand wave",
            "left hand wave",
            "right arm cw",
            "right arm ccw",
            "left arm cw",
            "left arm ccw",
            "arm roll",
            "air drums",
            "air guitar",
            "other gestures",
        ),
        split_folders={"train": "ibmGestureTrain", "test": "ibmGestureTest"},
        sample_suffix=".npy",
        archives=(
            ("train", "ibmGestureTrain.tar.gz", "https://figshare.com/ndownloader/files/38022171"),
            ("test", "ibmGestureTest.tar.gz", "https://figshare.com/ndownloader/files/38020584"),
        ),
        download_mb=2800,  # approximate (tonic's preprocessed .npy archives)
        home_page="https://research.ibm.com/interactive/dvsgesture/",
        default_window_us=1_500_000,  # the first 1.5 s of each gesture (recordings last ~6 s)
        auto_download=True,
        layout="DVSGesture/ibmGestureTrain/userNN_<lighting>/<label>.npy, DVSGesture/ibmGestureTest/...",
        notes="time stamps in the files are in ms (tonic multiplies by 1000)",
    ),
    "pokerdvs": TonicSetInfo(
        name="pokerdvs",
        title="POKER-DVS (Serrano-Gotarredona & Linares-Barranco 2015): card pips flipped past a DVS",
        tonic_class="POKERDVS",
        folder="POKERDVS",
        sensor_size=(35, 35, 2),
        classes=("cl", "he", "di", "sp"),
        split_folders={"train": "pips_train", "test": "pips_test"},
        sample_suffix=".npy",
        archives=(
            ("train", "pips_train.tar.gz", "http://www2.imse-cnm.csic.es/caviar/POKERDVS.html"),
            ("test", "pips_test.tar.gz", "http://www2.imse-cnm.csic.es/caviar/POKERDVS.html"),
        ),
        download_mb=None,
        home_page="http://www2.imse-cnm.csic.es/caviar/POKERDVS.html",
        default_window_us=None,  # recordings are short; use the longest
        auto_download=False,  # tonic 1.7 has no URL for it: it copies archives shipped beside its module
        layout="POKERDVS/pips_train/<cl|he|di|sp>/*.npy, POKERDVS/pips_test/...",
    ),
    "mnist-dvs": TonicSetInfo(
        name="mnist-dvs",
        title="MNIST-DVS (Serrano-Gotarredona & Linares-Barranco 2015): MNIST on a screen, DVS128, scale 16",
        tonic_class=None,
        folder="MNIST-DVS",
        sensor_size=(128, 128, 2),
        classes=tuple(str(i) for i in range(10)),
        split_folders=None,
        sample_suffix=".aedat",
        archives=tuple(
            ("all", f"grabbed_data{d}.zip", "http://www2.imse-cnm.csic.es/caviar/MNISTDVS.html") for d in range(10)
        ),
        download_mb=None,
        home_page="http://www2.imse-cnm.csic.es/caviar/MNISTDVS.html",
        default_window_us=None,  # the longest recording of the split
        auto_download=False,
        layout="MNIST-DVS/grabbed_data<d>/scale16/mnist_<d>_scale16_<NNNN>.aedat (jAER AEDAT 2.0)",
        notes="no official split: a fixed-seed stratified test_fraction per digit is held out",
    ),
}

_MNIST_DVS_RE = re.compile(r"mnist_(\d)_scale(\d+)_\d+\.aedat$", re.IGNORECASE)


def default_data_root() -> Path:
    """``$QSNN_DEPLOY_DATA``, else ``<user cache dir>/qsnn-deploy/data`` (``~/.cache/...`` on Linux)."""
    env = os.environ.get("QSNN_DEPLOY_DATA")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("qsnn-deploy")) / "data"


def _info(name: str) -> TonicSetInfo:
    info = KNOWN.get(name)
    if info is None:
        import difflib

        close = difflib.get_close_matches(str(name), sorted(KNOWN), n=1)
        hint = f"did you mean '{close[0]}'? " if close else ""
        raise InputError(
            f"Unknown dataset '{name}'", "dataset name", f"{hint}known real datasets: {', '.join(sorted(KNOWN))}"
        )
    return info


def _root(data_root) -> Path:
    return default_data_root() if data_root is None else Path(data_root).expanduser()


def _mnist_dvs_files(base: Path) -> list[tuple[Path, int]]:
    out = []
    if base.is_dir():
        for p in sorted(base.rglob("*.aedat")):
            m = _MNIST_DVS_RE.search(p.name)
            if m and int(m.group(2)) == MNIST_DVS_SCALE:
                out.append((p, int(m.group(1))))
    return out


def _has_samples(folder: Path, suffix: str) -> bool:
    if not folder.is_dir():
        return False
    return next(iter(folder.rglob(f"*{suffix}")), None) is not None


def find_split(name: str, split: str, data_root=None) -> Path | None:
    """The extracted folder of ``split`` of dataset ``name`` under ``data_root``, or None.

    Never downloads; does not need the archive (tonic's own check does). For MNIST-DVS the
    folder is ``MNIST-DVS`` for both splits.
    """
    info = _info(name)
    base = _root(data_root) / info.folder
    if info.split_folders is None:
        return base if _mnist_dvs_files(base) else None
    folder = base / info.split_folders[split]
    return folder if _has_samples(folder, info.sample_suffix) else None


def find_local(name: str, data_root=None) -> Path | None:
    """The dataset's folder under ``data_root`` (``<root>/<tonic class name>``) when every split is
    there (extracted, at least one recording each), else None. Never downloads."""
    info = _info(name)
    splits = ("train",) if info.split_folders is None else SPLITS
    if all(find_split(name, s, data_root) is not None for s in splits):
        return _root(data_root) / info.folder
    return None


def _extract_present_archive(info: TonicSetInfo, split: str, root: Path) -> bool:
    """Extract the split's archive if it lies in ``<root>/<folder>/`` but is not extracted."""
    for s, fname, _ in info.archives:
        archive = root / info.folder / fname
        if s == split and archive.is_file():
            from tonic.download_utils import extract_archive

            try:
                extract_archive(str(archive), str(root / info.folder))
            except Exception as exc:  # noqa: BLE001 - zip/tar raise many types
                raise InputError(
                    f"The archive could not be extracted ({type(exc).__name__}: {exc}); it may be "
                    "incomplete or corrupt",
                    str(archive),
                    f"delete it and fetch it again ({info.download_hint(split)})",
                ) from None
            return True
    return False


def _not_found(info: TonicSetInfo, split: str, root: Path) -> InputError:
    where = root / info.folder
    if info.auto_download:
        fix = (
            f"pass --download to fetch it ({info.download_hint(split)}) or --data-root to where it is "
            f"(expected layout: {info.layout})"
        )
    else:
        fix = (
            f"fetch it by hand from {info.home_page} (it cannot be downloaded automatically) and "
            f"unpack it as {info.layout} under the data root, or pass --data-root to where it is"
        )
    return InputError(f"Dataset {info.name} ({split} split) not found under {root}", str(where), fix)


_NETWORK_ERRORS = (urllib.error.URLError, socket.gaierror, socket.timeout, ConnectionError, TimeoutError)


def _download(info: TonicSetInfo, split: str, root: Path) -> None:
    """Let tonic download and extract the split; map offline failures to ``BackendUnavailable``."""
    if not info.auto_download:
        raise InputError(
            f"Dataset {info.name} cannot be downloaded automatically",
            str(root / info.folder),
            f"fetch it by hand from {info.home_page} and unpack it as {info.layout} under "
            f"{root} (or pass --data-root to where it is)",
        )
    import tonic.datasets

    assert info.tonic_class is not None, info.name  # only tonic datasets reach here
    cls = getattr(tonic.datasets, info.tonic_class)
    fname, url = next((f, u) for s, f, u in info.archives if s == split)
    try:
        with contextlib.redirect_stdout(sys.stderr):  # tonic prints progress; stdout is for results
            cls(save_to=str(root), train=(split == "train"))
    except _NETWORK_ERRORS as exc:
        reason = getattr(exc, "reason", exc)
        raise BackendUnavailable(
            f"Cannot download {info.name} ({split} split): no network ({reason})",
            url,
            f"on a machine with internet, download {url} as {fname}, copy it to "
            f"{root / info.folder / fname} and unpack it there ({info.layout}); then run again "
            f"without --download (or with --data-root pointing at it)",
        ) from None
    except OSError as exc:
        raise BackendUnavailable(
            f"Cannot download {info.name} ({split} split): {exc}",
            url,
            f"check the network and free disk space under {root}, or fetch {url} by hand as "
            f"{root / info.folder / fname} and unpack it there",
        ) from None
    except RuntimeError as exc:  # tonic: "File not found or corrupted." (md5 mismatch)
        raise InputError(
            f"The download of {info.name} ({split} split) is corrupt ({exc})",
            str(root / info.folder / fname),
            "delete the file and run again with --download",
        ) from None


class _RawSplit:
    """Recordings of one split as ``EVENT_DTYPE`` arrays after the deterministic transforms."""

    def __init__(self, info: TonicSetInfo, split: str, root: Path, tplan, options: DataOptions):
        self.info, self.split, self.plan = info, split, tplan
        if info.tonic_class is None:
            self._init_mnist_dvs(root, split, options)
        else:
            self._init_tonic(root, split)

    def _init_tonic(self, root: Path, split: str) -> None:
        import tonic.datasets

        assert self.info.tonic_class is not None, self.info.name  # only tonic datasets reach here
        base = getattr(tonic.datasets, self.info.tonic_class)

        def _refuse(self_):  # pragma: no cover - only hit if our presence check is wrong
            raise RuntimeError("qsnn-deploy: tonic tried to download although the data is present")

        # tonic insists on the archive and thousands of files; we checked the extracted folder
        local = type(
            base.__name__,
            (base,),
            {"_check_exists": lambda self_: True, "download": _refuse, "_copy_and_extract_local_data": _refuse},
        )
        self.ds = local(save_to=str(root), train=(split == "train"))
        self.labels = np.asarray(self.ds.targets, dtype=np.int64)

    def _init_mnist_dvs(self, root: Path, split: str, options: DataOptions) -> None:
        files = _mnist_dvs_files(root / self.info.folder)
        labels = np.array([d for _, d in files], dtype=np.int64)
        rng = np.random.default_rng(MNIST_DVS_SPLIT_SEED)
        test = np.zeros(len(files), bool)
        for c in np.unique(labels):
            idx = np.flatnonzero(labels == c)
            n_test = int(round(len(idx) * options.test_fraction))
            test[rng.permutation(idx)[:n_test]] = True
        keep = test if split == "test" else ~test
        self.files = [files[i][0] for i in np.flatnonzero(keep)]
        self.labels = labels[keep]

    def __len__(self) -> int:
        return len(self.labels)

    def raw(self, i: int) -> np.ndarray:
        if self.info.tonic_class is None:
            from .formats import read_recording

            rec = read_recording(self.files[i])
            ev = rec[0] if isinstance(rec, tuple) else getattr(rec, "events", rec)
            where = str(self.files[i])
        else:
            ev, _ = self.ds[i]
            where = f"{self.info.name} {self.split} recording {i}"
            if self.info.tonic_class == "DVSGesture":  # tonic gives p as bool
                ev = ev.astype([(n, np.int64) for n in ev.dtype.names])
        return validate_events(ev, self.info.sensor_size, where)

    def __getitem__(self, i: int):
        return apply_deterministic(self.raw(i), self.plan), int(self.labels[i])


def _cache_dirs(info: TonicSetInfo, split: str, root: Path, key: str) -> list[Path]:
    """Where the cache may be: under the data root, then in the user cache (read-only roots)."""
    sub = Path(f"{info.name}_v{CACHE_VERSION}") / split / key
    user = os.environ.get("QSNN_DEPLOY_CACHE")
    if not user:
        import platformdirs

        user = platformdirs.user_cache_dir("qsnn-deploy")
    return [root / ".qsnn_cache" / sub, Path(user) / "tonic" / sub]


def _writable_cache(dirs: list[Path]) -> Path:
    for d in dirs:
        try:
            d.mkdir(parents=True, exist_ok=True)
        except OSError:
            continue
        if os.access(d, os.W_OK):
            return d
    return dirs[-1]


def load_tonic(
    name: str,
    split: str,
    options: DataOptions,
    seed: int = 0,
    progress: ProgressMode = True,
) -> EventDataset:
    """Load ``split`` ("train"/"test") of real dataset ``name`` (see ``KNOWN``) as an ``EventDataset``.

    Recordings are time-shifted to start at 0, cut to the window (``options.window_us``, else the
    dataset's ``default_window_us``, else the longest recording of the split), denoised
    (``options.denoise_us``), downsampled to ``options.input_size`` and, on the training split with
    ``options.augment``, flipped/shifted with a generator seeded by ``seed``.

    Raises:
        InputError: unknown dataset or split, data not found (and ``options.download`` off), bad
            sizes, unreadable files.
        BackendUnavailable: ``options.download`` is on but the network cannot be reached.
    """
    info = _info(name)
    if split not in SPLITS:
        raise InputError(f"Unknown split '{split}'", f"dataset {name}", "use 'train' or 'test'")
    root = _root(options.data_root)
    sensor = tuple(options.sensor_size) if options.sensor_size is not None else info.sensor_size
    if tuple(sensor) != info.sensor_size:
        raise InputError(
            f"Sensor size {tuple(sensor)} does not match {name}'s {info.sensor_size}",
            "sensor_size",
            f"leave the sensor size unset for {name}",
        )
    window = options.window_us if options.window_us is not None else info.default_window_us
    tplan = plan(info.sensor_size, options, window)
    key = tplan.key() if info.split_folders else f"{tplan.key()}_tf{options.test_fraction:g}"
    dirs = _cache_dirs(info, split, root, key) if options.cache else []
    done = next((d for d in dirs if (d / "complete.json").is_file()), None)

    if done is not None:
        events, labels = _read_cache(done, done / "complete.json")
    else:
        if find_split(name, split, root) is None:
            if not _extract_present_archive(info, split, root) or find_split(name, split, root) is None:
                if not options.download:
                    raise _not_found(info, split, root)
                _download(info, split, root)
                if find_split(name, split, root) is None:
                    raise InputError(
                        f"{name}: the download finished but no recordings were found",
                        str(root / info.folder),
                        f"expected layout: {info.layout}",
                    )
        raw = _RawSplit(info, split, root, tplan, options)
        cache = _writable_cache(dirs) if dirs else None
        marker = cache / "complete.json" if cache is not None else None
        events, labels = _read_all(raw, cache, marker, progress, f"{name} {split}")

    duration = tplan.window_us
    if duration is None:
        duration = max((int(e["t"][-1]) + 1 for e in events if len(e)), default=1)
    if split == "train" and options.augment:
        rng = np.random.default_rng(seed)
        events = [augment(e, tplan.out_size, rng) for e in events]
    return EventDataset(
        name=name,
        split=split,
        events=events,
        labels=np.asarray(labels, np.int64),
        sensor_size=tplan.out_size,
        n_classes=info.n_classes,
        duration_us=int(duration),
        classes=info.classes,
        origin=origin_record(tplan.sensor_size, tplan.factor),
    )


def _read_all(raw: _RawSplit, cache: Path | None, marker: Path | None, progress: ProgressMode, desc: str):
    n = len(raw)
    if cache is None:
        items = (raw[i] for i in range(n))
    else:
        from tonic import DiskCachedDataset

        cached = DiskCachedDataset(dataset=raw, cache_path=str(cache))
        items = (cached[i] for i in range(n))
    events, labels = [], []
    for ev, label in Progress(items, total=n, desc=desc, unit="file", progress=progress):
        events.append(np.asarray(ev).astype(EVENT_DTYPE, copy=False))
        labels.append(int(label))
    if marker is not None:
        write_atomic(marker, json.dumps({"version": CACHE_VERSION, "n": n}))
    return events, labels


def _read_cache(cache: Path, marker: Path):
    from tonic import DiskCachedDataset

    meta = json.loads(marker.read_text())
    cached = DiskCachedDataset(dataset=None, cache_path=str(cache))
    n = int(meta["n"])
    if cached.n_samples < n:
        raise InputError(
            f"The cache holds {cached.n_samples} of {n} recordings", str(cache), "delete the cache folder and run again"
        )
    events, labels = [], []
    for i in range(n):
        ev, label = cached[i]
        events.append(np.asarray(ev).astype(EVENT_DTYPE, copy=False))
        labels.append(int(label))
    return events, labels


def describe(name: str, data_root=None) -> dict:
    """One row of ``qsnn-deploy datasets``: facts and whether the data is found under ``data_root``."""
    info = _info(name)
    found = find_local(name, data_root)
    return {
        "name": info.name,
        "title": info.title,
        "sensor_size": list(info.sensor_size),
        "n_classes": info.n_classes,
        "classes": list(info.classes),
        "download_mb": info.download_mb,
        "auto_download": info.auto_download,
        "urls": sorted({u for _, _, u in info.archives}),
        "layout": info.layout,
        "found": found is not None,
        "path": str(found) if found is not None else str(_root(data_root) / info.folder),
        "default_window_us": info.default_window_us,
    }


__all__ = ["KNOWN", "TonicSetInfo", "default_data_root", "describe", "find_local", "find_split", "load_tonic"]
