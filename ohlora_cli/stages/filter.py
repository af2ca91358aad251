"""``filter``: a named selection of one generator's images whose scores pass every rule (docs/original.md §4.2).

A rule is ``PROPERTY OP VALUE`` with OP one of ``>= <= > < ==``.  A property's values come from
the one scorer that has it for this generator (``scorers`` picks one where several have it); scorers
with a stored normalisation (the parser properties) are compared in normalised units, the others
(CNN probabilities) as stored.

Hand-labelled images are left out of the selection by default, as the original left its 2,000
labelled images out of filtering; with ``include_labelled`` their hand labels stand in for the CNN
scores of the labelled properties.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from dataclasses import replace as replace_
from pathlib import Path

import numpy as np
from sqlalchemy import func, insert, select

from ohlora_cli.catalog.db import Catalog
from ohlora_cli.catalog.images import check_stored_pngs, images_of
from ohlora_cli.catalog.models import (
    Generator,
    Image,
    Score,
    Selection,
    SelectionMember,
)
from ohlora_cli.catalog.queries import labelled_ids, selection_ids, stage_run
from ohlora_cli.catalog.registry import find_generator, load_generator
from ohlora_cli.catalog.scores import normalise_scores, scorers_with
from ohlora_cli.errors import NotFoundError, UsageError
from ohlora_cli.images import ensure_writable_dir, save_png
from ohlora_cli.limits import check_name
from ohlora_cli.models.inference import pick_device
from ohlora_cli.rules import Rule, apply_rules, parse_rule
from ohlora_cli.scoring.scorers import check_properties, check_scorer_id


@dataclass(frozen=True)
class FilterResult:
    name: str
    generator: str
    total: int
    rules: list[str]
    passed_per_rule: list[int]
    passed: int
    excluded_labelled: int
    scorers: dict[str, str]
    exported: int | None = None  # images written to the export folder (None: no --export)
    existing: bool = False  # the selection was already there with these rules and images: nothing was written


def check_options(*, name: str, rules: list[str], scorers: tuple[str, ...] = ()) -> list[Rule]:
    """The checks that need no catalog (run before it is opened): the name, the rules and their
    properties, the form of the scorer ids.  Returns the parsed rules."""
    check_name(name, "--name")
    parsed = [parse_rule(r) for r in rules]
    for text, rule in zip(rules, parsed):
        check_properties([rule.prop], "--rule", text)
    for sid in scorers:
        check_scorer_id(sid)
    return parsed


def choose_scorers(catalog: Catalog, generator_id: int, props, prefer=()) -> dict[str, str]:
    """The scorer of each property: the only one that has it, or the one of ``prefer`` that does."""
    scorers, seen = {}, set()
    for prop in dict.fromkeys(props):
        found = sorted(scorers_with(catalog, generator_id, prop))
        seen.update(found)
        if not found:
            with catalog.read() as s:
                images = s.scalar(select(func.count(Image.id)).where(Image.generator_id == generator_id))
            raise NotFoundError(f"no scores for property {prop!r} yet",
                                "Run `ohlora score` for this generator first" if images else
                                "The generator has no images yet: run `ohlora generate --n 1000`, then `ohlora score`")
        chosen = [f for f in found if f in prefer]
        if len(found) > 1 and len(chosen) != 1:
            raise UsageError(f"property {prop!r} has scores from several scorers ({', '.join(found)})",
                             "Pick one with --scorer")
        scorers[prop] = chosen[0] if chosen else found[0]
    unused = [p for p in prefer if p not in seen]
    if unused:
        raise NotFoundError(f"--scorer {unused[0]} has no scores of {', '.join(dict.fromkeys(props))} for this "
                            "generator", f"Scorers that have them: {', '.join(sorted(seen))}")
    return scorers


def _values(catalog: Catalog, generator_id: int, rules: list[Rule], prefer=()) -> tuple[np.ndarray, np.ndarray,
                                                                                          dict[str, str]]:
    scorers = choose_scorers(catalog, generator_id, [r.prop for r in rules], prefer)
    with catalog.read() as s:
        columns = {}
        for prop, scorer in scorers.items():
            columns[prop] = dict(s.execute(select(Score.image_id, Score.value).join(Image, Image.id == Score.image_id)
                                           .where(Score.property == prop, Score.scorer == scorer,
                                                  Image.generator_id == generator_id)).all())
    for prop, scorer in scorers.items():
        ids = list(columns[prop])
        raw = np.array([columns[prop][i] for i in ids], np.float64)
        columns[prop] = dict(zip(ids, normalise_scores(catalog, scorer, [prop], raw)[:, 0].tolist()))
    ids = sorted(set.intersection(*(set(c) for c in columns.values())))
    values = np.array([[columns[r.prop][i] for r in rules] for i in ids], np.float64).reshape(len(ids), len(rules))
    return np.array(ids, np.int64), values, scorers


def run(catalog: Catalog, *, name: str, rules: list[str], model: str | None = None, replace: bool = False,
        scorers: tuple[str, ...] = (), include_labelled: bool = False, export: Path | None = None,
        device: str = "auto", on_export_start=None, advance=None) -> FilterResult:
    """Choose the images, write them to ``export`` when given, then store the selection — last, in one
    transaction, so a failed export leaves the catalog as it was."""
    parsed = check_options(name=name, rules=rules, scorers=scorers)
    if export is not None:
        export = ensure_writable_dir(Path(export), "--export")
    gen = find_generator(catalog, model)
    with catalog.read() as s:
        exists = s.scalars(select(Selection).where(Selection.name == name)).first()
        members = set(s.scalars(select(SelectionMember.image_id).where(SelectionMember.selection_id == exists.id))) \
            if exists is not None else set()
    if exists is not None and not replace:
        old_rules = json.loads(exists.rules_json or "[]")
        if old_rules != [str(r) for r in parsed] or exists.generator_id != gen.id:
            raise UsageError(f"a selection named {name!r} already exists with other rules ({', '.join(old_rules)})",
                             "Pass another --name, or --replace")
    ids, values, chosen_scorers = _values(catalog, gen.id, parsed, scorers)
    labelled = labelled_ids(catalog, gen.id)
    excluded = 0
    if labelled and len(ids):
        keep = np.array([i not in labelled for i in ids.tolist()])
        if include_labelled:
            for k, i in enumerate(ids.tolist()):
                for j, r in enumerate(parsed):
                    if i in labelled and r.prop in labelled[i]:
                        values[k, j] = labelled[i][r.prop]
        else:
            excluded = int((~keep).sum())
            ids, values = ids[keep], values[keep]
    ok = apply_rules(values, parsed) if len(ids) else np.zeros((0, len(parsed)), bool)
    chosen = ids[ok.all(axis=1)] if len(ids) else ids
    result = FilterResult(name, gen.name, len(ids), [str(r) for r in parsed], ok.sum(axis=0).astype(int).tolist(),
                          len(chosen), excluded, chosen_scorers)
    if export is not None:
        check_stored_pngs(catalog, gen, chosen.tolist())
    if exists is not None and not replace:
        if members == set(chosen.tolist()):  # the same command ran to the end before: nothing to do
            exported = export_images(catalog, gen, chosen.tolist(), export, device=device, on_start=on_export_start,
                                     advance=advance) if export is not None else None
            return replace_(result, existing=True, exported=exported)
        raise UsageError(f"a selection named {name!r} already exists with {len(members)} images; the same rules now "
                         f"select {len(chosen)}", "Pass --replace to update it, or another --name")
    options = {"name": name, "rules": [str(r) for r in parsed], "generator": gen.name, "scorers": chosen_scorers,
               "include_labelled": include_labelled}
    with stage_run(catalog, "filter", options) as run_id:
        if export is not None:  # the files first: a failed export stores no selection
            result = replace_(result, exported=export_images(catalog, gen, chosen.tolist(), export, device=device,
                                                             on_start=on_export_start, advance=advance))
        with catalog.write() as s:  # the selection and its members: all or nothing
            if exists is not None:
                s.delete(s.get(Selection, exists.id))
                s.flush()
            sel = Selection(name=name, generator_id=gen.id, rules_json=json.dumps([str(r) for r in parsed]),
                            run_id=run_id)
            s.add(sel)
            s.flush()
            if len(chosen):
                s.execute(insert(SelectionMember), [dict(selection_id=sel.id, image_id=int(i)) for i in chosen])
    return result


def export_selection(catalog: Catalog, name: str, out, *, device: str = "auto", advance=None) -> int:
    """Write a stored selection's images to ``out/<image id>.png``; returns how many were written."""
    sel, ids = selection_ids(catalog, name)
    out = ensure_writable_dir(Path(out), "--export")
    with catalog.read() as s:
        gen = s.get(Generator, sel.generator_id)
        s.expunge(gen)
    check_stored_pngs(catalog, gen, ids)
    return export_images(catalog, gen, ids, out, device=device, advance=advance)


def export_images(catalog: Catalog, gen: Generator, ids: list[int], out: Path, *, device: str = "auto",
                  on_start=None, advance=None) -> int:
    """Write images to ``out/<image id>.png`` (copied from stored PNGs or re-rendered from w), skipping
    files already there; returns how many were written."""
    todo = [i for i in ids if not (out / f"{i:07d}.png").exists()]
    if on_start is not None:
        on_start(len(todo))
    if not todo:
        return 0
    dev = pick_device(device)
    G = load_generator(gen, dev)
    for start in range(0, len(todo), 64):
        part = todo[start:start + 64]
        for i, img in zip(part, images_of(catalog, G, gen, part, dev)):
            save_png(out / f"{i:07d}.png", img)
        if advance is not None:
            advance(len(part))
    return len(todo)
