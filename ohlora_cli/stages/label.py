"""Hand labels (gender, quality, age, glass as 0/1) and the filter CNN ensembles trained on them (docs/original.md §3.1).

- :func:`import_labels`: a CSV (``image`` = catalog image id, a stored PNG path or an exported
  ``id-NNNNNNN.png``; or ``seed`` with
  the generator; then any of ``gender, quality, age, glass``; empty = not labelled) into ``hand_labels``.
- :func:`export_for_labelling`: ``n`` unlabelled images as PNGs + numbered contact sheets + a CSV
  template that :func:`import_labels` reads back.
- :func:`train`: one ensemble per property from the catalog's hand labels (or from a CSV of image
  files, e.g. ``ohlora synthetic render``'s ``hand_labels.csv``), written to a file beside the
  catalog and registered as the CNN set ``name`` with its per-fold metrics.

Label polarity is the original's: gender 1 = female, quality 1 = good, age 1 = old, glass 1 = glasses.
"""

from __future__ import annotations

import csv
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from ohlora_cli.catalog.db import Catalog
from ohlora_cli.catalog.images import images_of
from ohlora_cli.catalog.models import CnnModel, HandLabel, Image, Run
from ohlora_cli.catalog.queries import labelled_ids, stage_run
from ohlora_cli.catalog.registry import cnn_file, register_cnn
from ohlora_cli.errors import InputFileError, NotFoundError, UsageError
from ohlora_cli.files import atomic_path
from ohlora_cli.formats import read_csv_records
from ohlora_cli.images import contact_sheet, ensure_writable_dir, load_png, save_png
from ohlora_cli.limits import (
    MAX_CNN_WIDTH,
    MAX_FOLDS,
    MAX_LR,
    MAX_RESOLUTION,
    check_int,
    check_name,
    check_number,
    check_seed,
)
from ohlora_cli.models.cnn_files import (
    is_ohlora_cnn,
    load_original_filter_cnn,
    load_property_cnn,
    save_filter_ensemble,
    save_property_cnn,
)
from ohlora_cli.models.cnns import FILTER_PROPS
from ohlora_cli.models.parsers import resize_images
from ohlora_cli.processes import kill_point
from ohlora_cli.training.cnns import train_filter_ensemble

SHEET_COLUMNS = 10
SHEET_SIZE = 100
EXPORT_PREFIX = "id-"


def export_name(image_id: int) -> str:
    """File name of an exported image (``id-0000042.png``); import maps it back to the image id."""
    return f"{EXPORT_PREFIX}{image_id:07d}.png"


@dataclass(frozen=True)
class ImportResult:
    images: int
    labels: int
    per_property: dict[str, tuple[int, int]]  # prop -> (zeros, ones) after the import


def parse_label(value: str, prop: str, line: int, path: Path) -> int | None:
    """'' → None, '0'/'1' (also '0.0'/'1.0') → int; anything else is an input error naming the line."""
    value = value.strip()
    if value == "":
        return None
    try:
        v = float(value)
    except ValueError:
        v = -1.0
    if v not in (0.0, 1.0):
        raise InputFileError(f"{path} line {line}: {prop} is {value!r}, not 0 or 1",
                             "Use 1 (female / good / old / glasses), 0, or leave it empty")
    return int(v)


def _image_index(catalog: Catalog, generator_id: int | None) -> tuple[dict[str, int], dict[str, int], set[int]]:
    """(resolved path → id, file name → id (unique names only), all ids) of the catalog's images."""
    with catalog.read() as s:
        q = select(Image.id, Image.path)
        if generator_id is not None:
            q = q.where(Image.generator_id == generator_id)
        rows = s.execute(q).all()
    by_path = {str(Path(p).resolve()): i for i, p in rows if p}
    names: dict[str, list[int]] = {}
    for i, p in rows:
        if p:
            names.setdefault(Path(p).name, []).append(i)
    return by_path, {n: ids[0] for n, ids in names.items() if len(ids) == 1}, {i for i, _ in rows}


def read_label_csv(path: Path) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    """(columns, [(line number, row)]) with one-line errors for unreadable files (a FIFO, a folder,
    binary content); UTF-8 with or without a byte-order mark."""
    path = Path(path)
    if not path.exists() and not path.is_symlink():
        raise InputFileError(f"label file {path} does not exist", "Check the path")
    columns, rows = read_csv_records(path, fix="Pass a UTF-8 CSV file")
    if not columns:
        raise InputFileError(f"{path} is empty", "Write a header like: image,gender,quality,age,glass")
    props = [c for c in columns if c in FILTER_PROPS]
    if not props:
        raise InputFileError(f"{path} has no gender, quality, age or glass column (columns: {', '.join(columns)})",
                             "Write a header like: image,gender,quality,age,glass")
    return columns, rows


def import_labels(catalog: Catalog, path: Path, *, generator_id: int | None = None) -> ImportResult:
    """Store the CSV's labels (replacing earlier labels of the same image and property); all-or-nothing."""
    path = Path(path)
    columns, rows = read_label_csv(path)
    key = "image" if "image" in columns else "image_id" if "image_id" in columns else "seed" if "seed" in columns else None
    if key is None:
        raise InputFileError(f"{path} has no image, image_id or seed column", "Write a header like: image,gender,...")
    if key == "seed" and generator_id is None:
        raise UsageError("a seed column needs the generator", "Pass --model NAME")
    by_path, by_name, ids = _image_index(catalog, generator_id)
    seeds: dict[int, int] = {}
    if key == "seed":
        with catalog.read() as s:
            seeds = {int(seed): i for seed, i in s.execute(select(Image.seed, Image.id).where(
                Image.generator_id == generator_id)).all()}
    props = [c for c in columns if c in FILTER_PROPS]
    values: list[dict] = []
    images: set[int] = set()
    for line, row in rows:
        ref = row.get(key, "").strip()
        image_id = _find_image(ref, key, by_path, by_name, ids, seeds, line, path)
        for prop in props:
            v = parse_label(row.get(prop, ""), prop, line, path)
            if v is not None:
                values.append(dict(image_id=image_id, property=prop, value=float(v), source=str(path)))
                images.add(image_id)
    with catalog.write() as s:
        if values:
            stmt = sqlite_insert(HandLabel).values(values)
            s.execute(stmt.on_conflict_do_update(index_elements=["image_id", "property"],
                                                 set_={"value": stmt.excluded.value, "source": stmt.excluded.source}))
    return ImportResult(len(images), len(values), label_counts(catalog))


def _find_image(ref: str, key: str, by_path, by_name, ids, seeds, line: int, path: Path) -> int:
    if ref == "":
        raise InputFileError(f"{path} line {line}: empty {key}", f"Give every row a {key}")
    if key == "seed" or ref.isdigit():
        table = seeds if key == "seed" else {i: i for i in ids}
        if ref.isdigit() and int(ref) in table:
            return table[int(ref)]
        raise NotFoundError(f"{path} line {line}: no catalog image with {key if key == 'seed' else 'id'} {ref}",
                            "Label images exported by `ohlora label export` from this catalog")
    found = by_path.get(str(Path(ref).resolve())) or by_name.get(Path(ref).name)
    stem = Path(ref).stem
    if found is None and stem.startswith(EXPORT_PREFIX) and stem[len(EXPORT_PREFIX):].isdigit():
        found = int(stem[len(EXPORT_PREFIX):]) if int(stem[len(EXPORT_PREFIX):]) in ids else None
    if found is None:
        raise NotFoundError(f"{path} line {line}: {ref} is not a catalog image",
                            "To train on image files outside the catalog use `ohlora label train --csv FILE`")
    return found


def label_counts(catalog: Catalog) -> dict[str, tuple[int, int]]:
    with catalog.read() as s:
        rows = s.execute(select(HandLabel.property, HandLabel.value, func.count()).group_by(
            HandLabel.property, HandLabel.value)).all()
    out = {p: [0, 0] for p in FILTER_PROPS}
    for prop, value, k in rows:
        if prop in out:
            out[prop][int(value)] += k
    return {p: (v[0], v[1]) for p, v in out.items()}


def check_export_options(*, n: int, seed: int) -> None:
    """``label export``'s options, checked before the catalog is opened."""
    if n < 1:
        raise UsageError(f"--n must be at least 1, got {n}", "Pass e.g. --n 2000")
    check_seed(seed)


def export_for_labelling(catalog: Catalog, gen, G, *, n: int, out: Path, seed: int, device) -> tuple[int, Path]:
    """``n`` random unlabelled images → ``out/images/<id>.png``, ``out/sheet-NNN.png`` (ids under
    each face) and ``out/labels.csv`` (image, gender, quality, age, glass — values empty)."""
    check_export_options(n=n, seed=seed)
    out = ensure_writable_dir(Path(out), "--out")
    labelled = set(labelled_ids(catalog, gen.id))
    with catalog.read() as s:
        ids = [i for i in s.scalars(select(Image.id).where(Image.generator_id == gen.id).order_by(Image.id))
               if i not in labelled]
    if not ids:
        raise NotFoundError(f"generator {gen.name} has no unlabelled images", "Run `ohlora generate` first")
    chosen = sorted(np.random.default_rng(seed).choice(ids, size=min(n, len(ids)), replace=False).tolist())
    (out / "images").mkdir(exist_ok=True)
    rows = []
    for start in range(0, len(chosen), SHEET_SIZE):
        part = chosen[start:start + SHEET_SIZE]
        images = images_of(catalog, G, gen, part, device)
        for i, img in zip(part, images):
            p = save_png(out / "images" / export_name(i), img)
            rows.append([i, str(p.resolve())])
        sheet = contact_sheet(images, SHEET_COLUMNS, captions=[str(i) for i in part], scale=max(1, 96 // gen.resolution))
        save_png(out / f"sheet-{start // SHEET_SIZE:03d}.png", sheet)
    with atomic_path(out / "labels.csv") as tmp, open(tmp, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["image", "path", *FILTER_PROPS])
        for i, p in rows:
            w.writerow([i, p, "", "", "", ""])
    return len(chosen), out / "labels.csv"


@dataclass(frozen=True)
class TrainResult:
    name: str
    files: dict[str, Path]
    metrics: dict[str, dict]
    seconds: float
    existing: list[str] = field(default_factory=list)  # properties whose model was already made alike (kept)


def labelled_arrays_from_catalog(catalog: Catalog, gen, G, prop: str, device) -> tuple[np.ndarray, np.ndarray]:
    labels = {i: v[prop] for i, v in labelled_ids(catalog, gen.id).items() if prop in v}
    ids = sorted(labels)
    if not ids:
        return np.zeros((0, gen.resolution, gen.resolution, 3), np.uint8), np.zeros(0, np.int64)
    images = np.concatenate([images_of(catalog, G, gen, ids[s:s + 256], device) for s in range(0, len(ids), 256)])
    return images, np.array([int(labels[i]) for i in ids], np.int64)


def labelled_arrays_from_csv(path: Path, prop: str, resolution: int) -> tuple[np.ndarray, np.ndarray]:
    """Images named in a label CSV's ``image`` (or ``path``) column, resized to ``resolution``."""
    columns, rows = read_label_csv(Path(path))
    key = "path" if "path" in columns else "image" if "image" in columns else None
    if key is None:
        raise InputFileError(f"{path} has no image or path column", "Write a header like: image,gender,...")
    images, labels = [], []
    for line, row in rows:
        v = parse_label(row.get(prop, ""), prop, line, Path(path)) if prop in columns else None
        if v is None:
            continue
        file = Path(row[key].strip())
        if not file.is_absolute():
            file = Path(path).parent / file
        if not file.exists():
            raise InputFileError(f"{path} line {line}: image {file} does not exist", "Check the image paths")
        images.append(resize_images(load_png(file, what=f"{path} line {line}: image {file}",
                                             fix="Check the image paths")[None], resolution)[0])
        labels.append(v)
    if not images:
        return np.zeros((0, resolution, resolution, 3), np.uint8), np.zeros(0, np.int64)
    return np.stack(images), np.array(labels, np.int64)


def check_train_options(*, name: str, props: list[str], folds: int, seed: int, max_epochs: int, patience: int,
                        lr: float | None, width: float, resolution: int | None = None) -> None:
    """``label train``'s options, checked before the catalog is opened (the set name becomes file names)."""
    check_name(name, "--name", "mine")
    if not props:
        raise UsageError("--props names no property", "Pass some of: " + ", ".join(FILTER_PROPS))
    unknown = [p for p in props if p not in FILTER_PROPS]
    if unknown:
        raise UsageError(f"unknown filter property {unknown[0]!r}", "Use some of: " + ", ".join(FILTER_PROPS))
    check_int(folds, "--folds", lo=2, hi=MAX_FOLDS, example="5")
    check_int(max_epochs, "--epochs", lo=1, hi=100_000, example="100")
    check_int(patience, "--patience", lo=1, hi=100_000, example="20")
    check_number(lr, "--lr", lo=0, lo_open=True, hi=MAX_LR, example="1e-4")
    check_number(width, "--width", lo=0, lo_open=True, hi=MAX_CNN_WIDTH, example="1")
    if resolution is not None and (resolution < 32 or resolution > MAX_RESOLUTION or resolution & (resolution - 1)):
        raise UsageError(f"--resolution must be a power of two from 32 to {MAX_RESOLUTION}, got {resolution}",
                         "Pass e.g. --resolution 64")
    check_seed(seed)


def train(catalog: Catalog, *, name: str, props: list[str], arrays: Callable[[str], tuple[np.ndarray, np.ndarray]],
          out_dir: Path, folds: int, seed: int, max_epochs: int, patience: int, lr: float | None, width: float,
          init: str, replace: bool, on_epoch=None, source: str = "catalog") -> TrainResult:
    """Train and register one ensemble per property; ``arrays(prop)`` gives its (images, 0/1 labels) and
    ``source`` names where they come from.  Each property's model is registered on its own, so a rerun
    of the same command after a kill keeps the models already made with the same options and trains the
    rest; a model of the set made with other options is refused unless ``replace``."""
    check_train_options(name=name, props=props, folds=folds, seed=seed, max_epochs=max_epochs, patience=patience,
                        lr=lr, width=width)
    options = {"name": name, "folds": folds, "seed": seed, "max_epochs": max_epochs, "patience": patience, "lr": lr,
               "width": width, "init": init, "source": source}
    done = {} if replace else _models_made_alike(catalog, name, props, options)
    t0 = time.perf_counter()
    data = {p: arrays(p) for p in props if p not in done}
    for p, (images, labels) in data.items():
        if len(labels) == 0:
            raise NotFoundError(f"no {p} labels", "Import some with `ohlora label import labels.csv` or pass --csv")
    out_dir = ensure_writable_dir(Path(out_dir), "--catalog (CNN files go to cnns/ beside it)")
    files = {p: cnn_file(done[p]) for p in done}
    metrics = {p: json.loads(done[p].metrics_json or "{}") for p in done}
    if data:
        with stage_run(catalog, "label-train", {**options, "props": props}) as run_id:
            for p, (images, labels) in data.items():
                ens = train_filter_ensemble(images, labels, prop=p, folds=folds, seed=seed, max_epochs=max_epochs,
                                            patience=patience, lr=lr, width=width, init=init,
                                            on_epoch=(lambda d, p=p: on_epoch({"prop": p, **d})) if on_epoch else None)
                path = out_dir / f"{name}-cnn-{p}.pt"
                save_filter_ensemble(path, ens)
                register_cnn(catalog, path, name, f"cnn-{p}", run_id=run_id, replace=replace)
                files[p], metrics[p] = path, ens.metrics
                kill_point("label-train:model")
    return TrainResult(name, {p: files[p] for p in props}, {p: metrics[p] for p in props}, time.perf_counter() - t0,
                       sorted(done, key=props.index))


def _models_made_alike(catalog: Catalog, name: str, props: list[str], options: dict) -> dict[str, CnnModel]:
    """The set's models of ``props`` already trained with these options (by a run of the same command);
    a :class:`UsageError` if one of them was made otherwise (another run's options, or registered)."""
    with catalog.read() as s:
        rows = {r.kind: r for r in s.scalars(select(CnnModel).where(CnnModel.name == name))}
        runs = {r.id: r for r in s.scalars(select(Run).where(Run.id.in_([r.run_id for r in rows.values()
                                                                          if r.run_id is not None])))}
    done = {}
    for p in props:
        row = rows.get(f"cnn-{p}")
        if row is None:
            continue
        run = runs.get(row.run_id)
        made = json.loads(run.options_json) if run is not None and run.stage == "label-train" else None
        if made is None or {k: v for k, v in made.items() if k != "props"} != options:
            raise UsageError(f"the CNN set {name!r} already has a cnn-{p} model "
                             f"{'trained with other options' if made is not None else 'registered from a file'}",
                             "Pass another --name, or --replace")
        done[p] = row
    return done


def register_cnn_files(catalog: Catalog, paths: list[Path], name: str, kind: str, out_dir: Path, *,
                       replace: bool = False):
    """Register CNN files as the ``kind`` model of set ``name``: one ohlora CNN file as it is, or the
    original's bare state dicts (fold files; 256 px) converted once into ``out_dir/<name>-<kind>.pt``."""
    check_name(name, "--name", "mine")  # it becomes a file name in out_dir
    paths = [Path(p) for p in paths]
    for p in paths:
        if not p.exists():
            raise InputFileError(f"CNN file {p} does not exist", "Check the path")
    if len(paths) == 1 and is_ohlora_cnn(paths[0]):
        return register_cnn(catalog, paths[0], name, kind, replace=replace)
    out_dir = ensure_writable_dir(Path(out_dir), "--catalog (CNN files go to cnns/ beside it)")
    target = out_dir / f"{name}-{kind}.pt"
    if kind == "cnn-property":
        if len(paths) != 1:
            raise UsageError(f"the Property Score CNN is one file, got {len(paths)}", "Pass one .pth file")
        model, metrics = load_property_cnn(paths[0])
        save_property_cnn(target, model, {**metrics, "files": [str(p) for p in paths]})
    else:
        ens = load_original_filter_cnn(paths, prop=kind.removeprefix("cnn-"))
        save_filter_ensemble(target, ens)
    return register_cnn(catalog, target, name, kind, replace=replace)
