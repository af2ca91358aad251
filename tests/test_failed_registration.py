"""A command that only reads what is stored of a generator (its images, scores, directions) or renders
with it does not register that generator: when it then fails, the catalog is exactly as it was."""

from __future__ import annotations

import pytest

from conftest import assert_one_line_error, assert_unchanged, catalog_rows

NO_DIRECTIONS = ("generator synthetic-base has no directions yet. Run `ohlora generate --n 1000`, `ohlora score` and "
                 "`ohlora vectorfind`, or pass --directions seed-v8 after `ohlora vectorfind import-seed DIR`")
NO_SCORES = ("no scores for property 'eyes' yet. The generator has no images yet: run `ohlora generate --n 1000`, "
             "then `ohlora score`")


@pytest.mark.parametrize("args, message", [
    (["synth", "--seed", "1", "--eyes", "1", "--out", "x.png"], NO_DIRECTIONS),
    (["eval", "--cases", "2"], NO_DIRECTIONS),
    (["score"], "generator synthetic-base has no images in the catalog to score. "
                "Run `ohlora generate --n 100 --model synthetic-base` first"),
    (["filter", "--name", "a", "--rule", "eyes>=0"], NO_SCORES),
    (["vectorfind"], NO_SCORES),
], ids=lambda a: a[0] if isinstance(a, list) else "")
def test_a_failed_command_leaves_an_unregistered_generator_unregistered(cli, built_catalog, catalog_path, tmp_path,
                                                                        args, message):
    built_catalog(["generate", "--n", "2", "--quiet"])  # the catalog knows tiny only
    before = catalog_rows(catalog_path)
    r = cli(*args, "--model", "synthetic-base", "--catalog", catalog_path, ok=False)
    assert_one_line_error(r, "Error: " + message)
    assert_unchanged(before, catalog_rows(catalog_path))


def test_rendering_an_unregistered_generator_stores_nothing(cli, built_catalog, catalog_path, tmp_path):
    built_catalog(["generate", "--n", "2", "--quiet"])
    before = catalog_rows(catalog_path)
    cli("synth", "--model", "synthetic-base", "--seed", "3", "--out", tmp_path / "face.png", "--catalog", catalog_path)
    assert (tmp_path / "face.png").is_file()
    assert_unchanged(before, catalog_rows(catalog_path))
