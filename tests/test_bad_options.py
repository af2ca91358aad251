"""Bad option values through every command: each is one ``Error: …`` line naming the option and the fix, no
traceback, the catalog unchanged — and options are checked before any work (a command refused on its options
does not even create the catalog)."""

from __future__ import annotations

import json
import math
import shutil
import sys
import tracemalloc

import pytest
import typer
from conftest import ROOT, assert_one_line_error, assert_unchanged, catalog_rows

from ohlora_cli import limits
from ohlora_cli.cli import app

# The catalogs other test files build (the same command lists, so the session cache is shared).
DIRS = (["generate", "--n", "64", "--quiet"], ["score", "--scorers", "parser", "--quiet"],  # tests/test_eval.py
        ["vectorfind", "--groups", "2", "--group-by", "hair_color", "--quiet"],
        ["vectorfind", "--method", "global", "--name", "glob", "--quiet"])
SEL = (["generate", "--n", "12", "--quiet"], ["score", "--scorers", "parser", "--quiet"],  # tests/test_finetune.py
       ["filter", "--name", "all", "--rule", "eyes>=-100", "--quiet"])
EMPTY = (["catalog", "init", "--quiet"],)
UNCAL = (["generate", "--n", "12", "--quiet"], ["score", "--scorers", "parser", "--quiet"],  # a set without calibration
         ["vectorfind", "--method", "global", "--no-calibrate", "--quiet"])
BUILDS = {"dirs": DIRS, "sel": SEL, "empty": EMPTY, "uncal": UNCAL}

NAME = "Use 1 to 64 letters, digits, '-', '_' or '.', starting with a letter or digit"
KNOWN = ("Known properties: eyes, hair_color, hair_length, mouth, pose, background_mean, background_std, hairstyle, "
         "gender, quality, age, glass")
SEED = "must be between 0 and 4294967295 (2^32 - 1)"
SCALE = "Pass a scale between -10 and 10 (directions are unit vectors in w; the original edits within ±3)"
SCORER_ID = "Scorer ids look like parser-synthetic/fixed, cnn-filter/synthetic or property-cnn/synthetic"
FT = ("finetune", "--selection", "all", "--out", "ft", "--new-d")


def case(id_, where, args, message, code=1, env=None):
    """``where``: None (no catalog: the command must refuse before creating one) or a BUILDS key."""
    return pytest.param(where, [str(a) for a in args], message, code, env or {}, id=id_)


CASES = [
    # ------------------------------------------------------------------ generate
    case("generate-n-zero", None, ["generate", "--n", "0"],
         "--n must be a positive number of images, got 0. Pass e.g. --n 15000"),
    case("generate-n-past-2^32", None, ["generate", "--n", 2**32 + 1],
         "seeds must lie in [0, 2^32), got 0..4294967296. Lower --seed-start or --n"),
    case("generate-seed-start-negative", None, ["generate", "--n", "10", "--seed-start", "-1"],
         "seeds must lie in [0, 2^32), got -1..8. Lower --seed-start or --n"),
    case("generate-batch-huge", None, ["generate", "--n", "10", "--batch-size", "100000000"],
         "--batch-size must be between 1 and 4,096, got 100,000,000. Pass e.g. --batch-size 16"),
    case("generate-batch-env", None, ["generate", "--n", "10"],
         "OHLORA_BATCH_SIZE must be between 1 and 4,096, got 100,000. Set e.g. OHLORA_BATCH_SIZE=16",
         env={"OHLORA_BATCH_SIZE": "100000"}),
    case("generate-psi-inf", None, ["generate", "--n", "10", "--psi", "inf"],
         "--psi must be between 0 and 2, got inf. Pass e.g. --psi 1.0"),
    case("generate-psi-nan", None, ["generate", "--n", "10", "--psi", "nan"],
         "--psi must be between 0 and 2, got nan. Pass e.g. --psi 1.0"),
    case("generate-trunc-negative", None, ["generate", "--n", "10", "--trunc-layers", "-1"],
         "--trunc-layers must be between 0 and 64, got -1. Pass e.g. --trunc-layers 8"),
    case("generate-labels", None, ["generate", "--n", "10", "--labels", "bogus"],
         "--labels must be random or zero, not 'bogus'. Pass --labels random"),
    case("generate-noise", None, ["generate", "--n", "10", "--noise", "loud"],
         "--noise must be const or random, not 'loud'. Pass --noise const"),
    case("generate-dtype", None, ["generate", "--n", "10", "--dtype", "fp8"],
         "--dtype must be fp32, bf16 or fp16, not 'fp8'. Pass --dtype fp32"),
    case("generate-scorers", None, ["generate", "--n", "10", "--score", "--scorers", "bogus"],
         "unknown scorer 'bogus'. Use one of: parser, cnn-filter, property-cnn"),
    case("generate-device", None, ["generate", "--n", "10", "--device", "gpu"],
         "--device gpu is not a device. Use one of: auto | cpu | cuda | cuda:N"),
    case("generate-device-env", None, ["generate", "--n", "10"],
         "OHLORA_DEVICE=gpu is not a device. Use one of: auto | cpu | cuda | cuda:N", env={"OHLORA_DEVICE": "gpu"}),
    case("generate-n-not-a-number", None, ["generate", "--n", "abc"], "Error: Invalid value for '--n'", code=2),
    # ------------------------------------------------------------------ score
    case("score-batch-zero", None, ["score", "--batch-size", "0"],
         "--batch-size must be between 1 and 4,096, got 0. Pass e.g. --batch-size 64"),
    case("score-batch-huge", None, ["score", "--batch-size", "100000000"],
         "--batch-size must be between 1 and 4,096, got 100,000,000. Pass e.g. --batch-size 64"),
    case("score-cnns-path", None, ["score", "--cnns", "../x"],
         f"--cnns '../x' is not a usable name. {NAME} (e.g. --cnns synthetic)"),
    case("score-scorers-empty", None, ["score", "--scorers", ""],
         "unknown scorer ''. Use one of: parser, cnn-filter, property-cnn"),
    case("score-mode", None, ["score", "--mode", "exact"], "--mode must be fixed or seed, not 'exact'. Pass --mode fixed"),
    case("score-detector", None, ["score", "--detector", "yolo"],
         "--detector must be fixed or mtcnn, not 'yolo'. Pass --detector fixed"),
    case("score-no-images", "empty", ["score"],
         "the catalog has no images to score. Run `ohlora generate --n 100` first"),
    case("score-unknown-model", "dirs", ["score", "--model", "nope"], "unknown model 'nope'. Use one of: synthetic-base, tiny, or a checkpoint path"),
    # ------------------------------------------------------------------ filter
    case("filter-name-empty-before-scores", "dirs", ["filter", "--name", ""],
         f"--name '' is not a usable name. {NAME} (e.g. --name v8-train)"),
    case("filter-name-empty-no-catalog", None, ["filter", "--name", ""],
         f"--name '' is not a usable name. {NAME} (e.g. --name v8-train)"),
    case("filter-name-dotdot", "dirs", ["filter", "--name", "../x", "--rule", "eyes>=0"],
         f"--name '../x' is not a usable name. {NAME} (e.g. --name v8-train)"),
    case("filter-name-absolute", "dirs", ["filter", "--name", "/tmp/x", "--rule", "eyes>=0"],
         f"--name '/tmp/x' is not a usable name. {NAME} (e.g. --name v8-train)"),
    case("filter-name-hidden", "dirs", ["filter", "--name", ".x", "--rule", "eyes>=0"],
         f"--name '.x' is not a usable name. {NAME} (e.g. --name v8-train)"),
    case("filter-name-too-long", "dirs", ["filter", "--name", "a" * 65, "--rule", "eyes>=0"],
         f"--name '{'a' * 65}' is not a usable name. {NAME} (e.g. --name v8-train)"),
    case("filter-rule-typo", "dirs", ["filter", "--name", "x", "--rule", "mouht>=0.5"],
         f"unknown property 'mouht' in --rule 'mouht>=0.5'. {KNOWN}"),
    case("filter-rule-two-points", "dirs", ["filter", "--name", "x", "--rule", "eyes>=1.2.3"],
         "malformed rule 'eyes>=1.2.3'. Write rules like 'gender>=0.92' or 'age<=0.008'"),
    case("filter-rule-infinite", "dirs", ["filter", "--name", "x", "--rule", "eyes>=1e999"],
         "malformed rule 'eyes>=1e999'. Write rules like 'gender>=0.92' or 'age<=0.008'"),
    case("filter-rule-operator", "dirs", ["filter", "--name", "x", "--rule", "eyes=>1"],
         "malformed rule 'eyes=>1'. Write rules like 'gender>=0.92' or 'age<=0.008'"),
    case("filter-scorer-form", "dirs", ["filter", "--name", "x", "--scorer", "bogus/x"],
         f"--scorer 'bogus/x' is not a scorer id. {SCORER_ID}"),
    case("filter-scorer-unknown", "dirs", ["filter", "--name", "x", "--rule", "eyes>=0", "--scorer", "cnn-filter/nope"],
         "--scorer cnn-filter/nope has no scores of eyes for this generator. Scorers that have them: "
         "parser-synthetic/fixed"),
    case("filter-device", None, ["filter", "--name", "x", "--device", "tpu"],
         "--device tpu is not a device. Use one of: auto | cpu | cuda | cuda:N"),
    # ------------------------------------------------------------------ finetune
    case("finetune-kimg-inf", "sel", [*FT, "--kimg", "inf"], "--kimg must be in (0, 8e+06], got inf. Pass e.g. --kimg 10"),
    case("finetune-kimg-nan", "sel", [*FT, "--kimg", "nan"], "--kimg must be in (0, 8e+06], got nan. Pass e.g. --kimg 10"),
    case("finetune-kimg-zero", "sel", [*FT, "--kimg", "0"], "--kimg must be in (0, 8e+06], got 0. Pass e.g. --kimg 10"),
    case("finetune-epochs-inf", "sel", [*FT, "--epochs", "inf"],
         "--epochs must be in (0, 1e+09], got inf. Pass e.g. --epochs 10"),
    case("finetune-epochs-too-many-steps", "sel", [*FT, "--epochs", "999999999"],
         "--epochs 1e+09 over 12 images comes to 1,499,999,999 steps, more than 1,000,000,000. Pass fewer --epochs"),
    case("finetune-steps-zero", "sel", [*FT, "--steps", "0"],
         "--steps must be between 1 and 1,000,000,000, got 0. Pass e.g. --steps 500"),
    case("finetune-steps-huge", "sel", [*FT, "--steps", "99999999999999"],
         "--steps must be between 1 and 1,000,000,000, got 99,999,999,999,999. Pass e.g. --steps 500"),
    case("finetune-time-zero", "sel", [*FT, "--time", "0"],
         "--time '0' is not a duration. Write e.g. --time 20m or --time 2h"),
    case("finetune-time-words", "sel", [*FT, "--time", "soon"],
         "--time 'soon' is not a duration. Write e.g. --time 20m or --time 2h"),
    case("finetune-two-lengths", "sel", [*FT, "--steps", "1", "--kimg", "1"],
         "give exactly one of --steps, --kimg, --epochs, --time. Pass e.g. --steps 500 or --time 20m"),
    case("finetune-no-length", "sel", [*FT], "the run has no length. Pass e.g. --steps 500 or --time 20m"),
    case("finetune-seed-negative", "sel", [*FT, "--steps", "1", "--seed", "-1"], f"--seed {SEED}, got -1. Pass e.g. --seed 0"),
    case("finetune-seed-2^32", "sel", [*FT, "--steps", "1", "--seed", 2**32],
         f"--seed {SEED}, got 4294967296. Pass e.g. --seed 0"),
    case("finetune-lr-inf", "sel", [*FT, "--steps", "1", "--lr", "inf"], "--lr must be in (0, 1], got inf. Pass e.g. --lr 1e-4"),
    case("finetune-lr-zero", "sel", [*FT, "--steps", "1", "--lr", "0"], "--lr must be in (0, 1], got 0. Pass e.g. --lr 1e-4"),
    case("finetune-lr-nan", "sel", [*FT, "--steps", "1", "--lr", "nan"], "--lr must be in (0, 1], got nan. Pass e.g. --lr 1e-4"),
    case("finetune-r1-nan", "sel", [*FT, "--steps", "1", "--r1", "nan"],
         "--r1 must be between 0 and 10000, got nan. Pass e.g. --r1 10"),
    case("finetune-r1-negative", "sel", [*FT, "--steps", "1", "--r1", "-1"],
         "--r1 must be between 0 and 10000, got -1. Pass e.g. --r1 10"),
    case("finetune-ema-one", "sel", [*FT, "--steps", "1", "--ema", "1"], "--ema must be in [0, 1), got 1. Pass e.g. --ema 0.999"),
    case("finetune-ema-nan", "sel", [*FT, "--steps", "1", "--ema", "nan"],
         "--ema must be in [0, 1), got nan. Pass e.g. --ema 0.999"),
    case("finetune-batch-huge", "sel", [*FT, "--steps", "1", "--batch-size", "100000000"],
         "--batch-size must be between 1 and 4,096, got 100,000,000. Pass e.g. --batch-size 8"),
    case("finetune-monitor-n-huge", "sel", [*FT, "--steps", "1", "--monitor-n", "100000000"],
         "--monitor-n must be between 1 and 4,096, got 100,000,000. Pass e.g. --monitor-n 64"),
    case("finetune-checkpoint-every", "sel", [*FT, "--steps", "1", "--checkpoint-every", "0"],
         "--checkpoint-every must be at least 1, got 0. Pass e.g. --checkpoint-every 50"),
    case("finetune-log-every", "sel", [*FT, "--steps", "1", "--log-every", "0"],
         "--log-every must be at least 1, got 0. Pass e.g. --log-every 25"),
    case("finetune-monitor-every", "sel", [*FT, "--steps", "1", "--monitor-every", "30"],
         "--monitor-every 30 is not a multiple of --log-every 25. Monitoring happens on logged steps; pass e.g. "
         "--monitor-every 50 --log-every 25"),
    case("finetune-out-empty", "sel", [*FT[:3], "--out", "", "--steps", "1"],
         f"--out '' is not a usable name. {NAME} (e.g. --out v8)"),
    case("finetune-out-dotdot", "sel", [*FT[:3], "--out", "../x", "--steps", "1"],
         f"--out '../x' is not a usable name. {NAME} (e.g. --out v8)"),
    case("finetune-selection-empty", "sel", ["finetune", "--selection", "", "--out", "ft", "--steps", "1"],
         f"--selection '' is not a usable name. {NAME} (e.g. --selection v8-train)"),
    case("finetune-selection-unknown", "sel", ["finetune", "--selection", "nope", "--out", "ft", "--steps", "1"],
         "no selection named 'nope'. Known: all"),
    case("finetune-preset", "sel", [*FT, "--steps", "1", "--preset", "v9"], "unknown preset 'v9'. Use --preset v1, v8, all or latent"),
    case("finetune-labels", "sel", [*FT, "--steps", "1", "--labels", "x"],
         "--labels must be stored or zero, not 'x'. Pass --labels stored"),
    case("finetune-train-empty", "sel", [*FT, "--steps", "1", "--train", ""],
         "--train '' is an empty pattern. Pass a glob like 'mapping.*' (D: for the discriminator)"),
    case("finetune-ada-speed-inf", "sel", [*FT, "--steps", "1", "--ada-speed", "inf"],
         "--ada-target must be in (0, 1) and --ada-speed a positive number of kimg. Pass e.g. --ada-target 0.6 "
         "--ada-speed 2"),
    case("finetune-holdout-huge", "sel", [*FT, "--steps", "1", "--holdout", 2**70],
         "--holdout 1180591620717411303424 leaves fewer than 2 of the selection's 12 images to train on. Pass "
         "--holdout 1 or a larger selection"),
    case("finetune-steps-not-int", "sel", [*FT, "--steps", "1.5"], "Error: Invalid value for '--steps'", code=2),
    case("finetune-anchor-negative", "sel", [*FT, "--steps", "1", "--anchor", "-1"],
         "--anchor must be between 0 and 1000, got -1. Pass e.g. --anchor 1"),
    case("finetune-anchor-nan", "sel", [*FT, "--steps", "1", "--anchor", "nan"],
         "--anchor must be between 0 and 1000, got nan. Pass e.g. --anchor 1"),
    case("finetune-anchor-not-synthetic", "sel", [*FT, "--steps", "1", "--anchor", "1"],
         "--anchor needs a generator of the synthetic world (the renderer's attribute statistics in its file); tiny "
         "has none. Fine-tune synthetic-base (or a fine-tune of it) with --anchor, or drop --anchor"),
    case("finetune-anchor-from-original", "sel", [*FT, "--steps", "1", "--anchor", "1", "--from-original"],
         "--anchor needs a generator of the synthetic world, not --from-original. Drop --anchor"),
    case("finetune-latent-augment", "sel", [*FT, "--steps", "1", "--preset", "latent", "--augment", "diffaug"],
         "--augment diffaug works on images; --preset latent's discriminator judges w. Drop --augment"),
    case("finetune-noise", "sel", [*FT, "--steps", "1", "--noise", "fixed"],
         "--noise must be random or const, not 'fixed'. Pass --noise random"),
    # ------------------------------------------------------------------ vectorfind
    case("vectorfind-seed-negative", "dirs", ["vectorfind", "--seed", "-1"], f"--seed {SEED}, got -1. Pass e.g. --seed 0"),
    case("vectorfind-seed-2^32", "dirs", ["vectorfind", "--seed", 2**32],
         f"--seed {SEED}, got 4294967296. Pass e.g. --seed 0"),
    case("vectorfind-properties-empty", "dirs", ["vectorfind", "--properties", ""],
         "--properties names no property. Pass e.g. --properties eyes,mouth,pose"),
    case("vectorfind-properties-typo", "dirs", ["vectorfind", "--properties", "eyse"],
         f"unknown property 'eyse' in --properties. {KNOWN}"),
    case("vectorfind-properties-twice", "dirs", ["vectorfind", "--properties", "eyes,eyes"],
         "--properties names eyes twice. Name each property once"),
    case("vectorfind-group-by-typo", "dirs", ["vectorfind", "--groups", "2", "--group-by", "hair_colr"],
         f"unknown property 'hair_colr' in --group-by. {KNOWN}"),
    case("vectorfind-groups-three", "dirs", ["vectorfind", "--groups", "3"],
         "--groups must be a power of two, got 3. Pass e.g. --groups 16"),
    case("vectorfind-groups-zero", "dirs", ["vectorfind", "--groups", "0"],
         "--groups must be a power of two, got 0. Pass e.g. --groups 16"),
    case("vectorfind-groups-huge", "dirs", ["vectorfind", "--groups", 2**40],
         "--groups 1099511627776 needs 40 group-by properties. Pass --group-by with that many properties"),
    case("vectorfind-ratio-nan", "dirs", ["vectorfind", "--ratio", "nan"],
         "--ratio must be in (0, 0.5], got nan. Pass e.g. --ratio 0.2"),
    case("vectorfind-ratio-big", "dirs", ["vectorfind", "--ratio", "0.6"],
         "--ratio must be in (0, 0.5], got 0.6. Pass e.g. --ratio 0.2"),
    case("vectorfind-method", "dirs", ["vectorfind", "--method", "pca"],
         "unknown method 'pca'. Use one of: svm, global, conditional, regression, projected"),
    case("vectorfind-off-target-method", None, ["vectorfind", "--off-target", "hair_color"],
         "--off-target applies to --method projected, not svm. Pass --method projected, or leave out --off-target"),
    case("vectorfind-off-target-typo", None, ["vectorfind", "--method", "projected", "--off-target", "hair_colour"],
         f"unknown property 'hair_colour' in --off-target. {KNOWN}"),
    case("vectorfind-off-target-edited", None, ["vectorfind", "--method", "projected", "--off-target", "mouth"],
         "--off-target names mouth, which --properties finds a direction for. The other found properties are kept "
         "still anyway: name only other properties"),
    case("vectorfind-off-target-twice", None, ["vectorfind", "--method", "projected", "--off-target",
                                               "hairstyle,hairstyle"],
         "--off-target names hairstyle twice. Name each property once"),
    case("vectorfind-off-target-empty", None, ["vectorfind", "--method", "projected", "--off-target", ""],
         "--off-target names no property. Pass e.g. --off-target hair_color,background_mean"),
    case("vectorfind-layers", None, ["vectorfind", "--layers", "0-5"],
         "--layers must be all or auto, got '0-5'. Pass --layers auto to choose W+ layers per property by re-scoring"),
    case("vectorfind-name-empty", "dirs", ["vectorfind", "--name", ""],
         f"--name '' is not a usable name. {NAME} (e.g. --name svm-mine)"),
    case("vectorfind-name-dotdot", "dirs", ["vectorfind", "--name", "../../x"],
         f"--name '../../x' is not a usable name. {NAME} (e.g. --name svm-mine)"),
    case("vectorfind-scorer-form", "dirs", ["vectorfind", "--scorer", "bogus/x"],
         f"--scorer 'bogus/x' is not a scorer id. {SCORER_ID}"),
    case("vectorfind-scorer-unscored", "dirs", ["vectorfind", "--groups", "2", "--group-by", "hair_color", "--name", "x",
                                                "--scorer", "parser-synthetic/seed"],
         "scorer parser-synthetic/seed has no 'eyes' scores for this generator. Run `ohlora score` with that scorer, "
         "or pick another --scorer"),
    case("vectorfind-import-seed-name", None, ["vectorfind", "import-seed", "--name", ""],
         f"--name '' is not a usable name. {NAME} (e.g. --name seed-v8)"),
    case("vectorfind-import-npy-name", None, ["vectorfind", "import-npy", "eyes.npy", "--name", "../x"],
         f"--name '../x' is not a usable name. {NAME} (e.g. --name ifg)"),
    case("vectorfind-export-unknown", "dirs", ["vectorfind", "export", "nope", "--out", "d"],
         "no direction set named 'nope'. Known sets: glob, svm-tiny (import with `ohlora vectorfind import-seed`)"),
    case("vectorfind-export-format", "dirs", ["vectorfind", "export", "glob", "--out", "d", "--format", "mat"],
         "--format must be npy or csv, not 'mat'. Pass --format npy"),
    case("vectorfind-list-option", None, ["vectorfind", "list", "--bogus"], "Error: No such option: --bogus", code=2),
    case("vectorfind-device", None, ["vectorfind", "--device", "gpu"],
         "--device gpu is not a device. Use one of: auto | cpu | cuda | cuda:N"),
    case("vectorfind-calibrate-unknown", "dirs", ["vectorfind", "calibrate", "nope"],
         "no direction set named 'nope'. Known sets: glob, svm-tiny (import with `ohlora vectorfind import-seed`)"),
    case("vectorfind-calibrate-name", None, ["vectorfind", "calibrate", "../x"],
         f"ohlora vectorfind calibrate '../x' is not a usable name. {NAME} (e.g. ohlora vectorfind calibrate "
         "svm-synthetic-base)"),
    case("vectorfind-calibrate-images", None, ["vectorfind", "calibrate", "svm-tiny", "--images", "0"],
         "--images must be between 1 and 4,096, got 0. Pass e.g. --images 8"),
    case("vectorfind-calibrate-scorer", None, ["vectorfind", "calibrate", "svm-tiny", "--scorer", "bogus/x"],
         f"--scorer 'bogus/x' is not a scorer id. {SCORER_ID}"),
    case("vectorfind-calibrate-seed", None, ["vectorfind", "calibrate", "svm-tiny", "--seed", "-1"],
         f"--seed {SEED}, got -1. Pass e.g. --seed 0"),
    case("vectorfind-calibrate-model", "dirs", ["vectorfind", "calibrate", "svm-tiny", "--model", "synthetic-base"],
         "direction set svm-tiny was found for generator tiny, not synthetic-base. Leave out --model (the set is "
         "calibrated on tiny)"),
    case("vectorfind-calibrate-unmeasured", "dirs", ["vectorfind", "calibrate", "svm-tiny", "--scorer",
                                                     "cnn-filter/synthetic"],
         "scorer cnn-filter/synthetic does not measure eyes. Pass --scorer with one that does"),
    # ------------------------------------------------------------------ eval
    case("eval-cases-zero", "dirs", ["eval", "--cases", "0"], "--cases must be between 1 and 2,000, got 0. Pass e.g. --cases 200"),
    case("eval-cases-huge", "dirs", ["eval", "--cases", "1000000000"],
         "--cases must be between 1 and 2,000, got 1,000,000,000. Pass e.g. --cases 200"),
    case("eval-seed-start-negative", "dirs", ["eval", "--seed-start", "-1"],
         f"--seed-start {SEED}, got -1. Pass e.g. --seed-start 0"),
    case("eval-seed-overflow", "dirs", ["eval", "--seed-start", 2**32 - 1, "--cases", "2"],
         "case seeds 4294967295..4294967296 go past 4294967295. Lower --seed-start or --cases"),
    case("eval-pass-nan", "dirs", ["eval", "--pass", "nan,0.5,0.5"],
         "--pass value 'nan,0.5,0.5' holds nan, not a finite number. Pass finite numbers"),
    case("eval-pass-two", "dirs", ["eval", "--pass", "0.5,0.5"],
         "--pass needs three thresholds in [0, 1] (eyes, mouth, pose). Pass --pass 0.92,0.88,0.88"),
    case("eval-pass-above-one", "dirs", ["eval", "--pass", "0.5,0.5,1.5"],
         "--pass needs three thresholds in [0, 1] (eyes, mouth, pose). Pass --pass 0.92,0.88,0.88"),
    case("eval-pass-range", "dirs", ["eval", "--pass", "0:1:3"],
         "--pass value '0:1:3' is not a comma list. e.g. --pass 0.92,0.88,0.88"),
    case("eval-scorer", "dirs", ["eval", "--scorer", "bogus"], f"--scorer 'bogus' is not a scorer id. {SCORER_ID}"),
    case("eval-layers", "dirs", ["eval", "--compare", "svm@a-b"],
         "--layers 'a-b' is not a list like 0-5 or 0,1,2. e.g. --layers 0-5"),
    case("eval-compare-unknown", "dirs", ["eval", "--compare", "nope"],
         "no direction set or method named 'nope' for tiny. Run `ohlora vectorfind --method nope` first, or pass a "
         "set name"),
    case("eval-compare-and-directions", "dirs", ["eval", "--compare", "svm", "--directions", "glob"],
         "--compare and --directions exclude each other. Pass one of them"),
    case("eval-device", "dirs", ["eval", "--device", "cuda:x"],
         "--device cuda:x is not a device. Use one of: auto | cpu | cuda | cuda:N"),
    # ------------------------------------------------------------------ synth
    case("synth-sweep-comma-list", "dirs", ["synth", "--sweep", "eyes=-3,3,7"],
         "--sweep eyes=-3,3,7 is not PROPERTY=START:STOP:COUNT. Write --sweep eyes=-3:3:7 for 7 values from -3 to 3, "
         "or --grid eyes=-3,3,7 for exactly these values"),
    case("synth-sweep-one-value", "dirs", ["synth", "--sweep", "eyes=1"],
         "--sweep value '1' is not START:STOP:COUNT. e.g. --sweep eyes=-1.2:1.2:7"),
    case("synth-sweep-count-huge", "dirs", ["synth", "--sweep", "eyes=0:1:100000000"],
         "--sweep value '0:1:100000000' asks for 100,000,000 values; COUNT must be 2 to 1024. e.g. --sweep "
         "eyes=-1.2:1.2:7"),
    case("synth-sweep-count-one", "dirs", ["synth", "--sweep", "eyes=0:1:1"],
         "--sweep value '0:1:1' asks for 1 value; COUNT must be 2 to 1024. e.g. --sweep eyes=-1.2:1.2:7"),
    case("synth-sweep-nan", "dirs", ["synth", "--sweep", "eyes=nan:1:3"],
         "--sweep value 'nan:1:3' holds nan, not a finite number. Pass finite numbers"),
    case("synth-sweep-beyond-range", "dirs", ["synth", "--sweep", "eyes=-20:20:5"],
         f"--sweep eyes value -20 is outside the edit range -10..10. {SCALE}"),
    case("synth-grid-too-many", "dirs", ["synth", "--grid", "eyes=0:1:300", "--grid", "mouth=0:1:300",
                                         "--grid", "pose=0:1:300"],
         "--grid asks for 27,000,000 faces in one picture; at most 1,024 fit. Use fewer values or fewer --grid "
         "properties"),
    case("synth-grid-twice", "dirs", ["synth", "--grid", "eyes=0,1", "--grid", "eyes=2,3"],
         "a property is given to --grid twice. Give each property one --grid"),
    case("synth-grid-and-sweep", "dirs", ["synth", "--grid", "eyes=0,1", "--sweep", "mouth=0:1:2"],
         "--sweep and --grid cannot be combined. Use one of them per call"),
    case("synth-eyes-50", "dirs", ["synth", "--eyes", "50"], f"--eyes 50 is outside the edit range -10..10. {SCALE}"),
    case("synth-eyes-minus-11", "dirs", ["synth", "--eyes", "-11"], f"--eyes -11 is outside the edit range -10..10. {SCALE}"),
    case("synth-eyes-nan", "dirs", ["synth", "--eyes", "nan"],
         "--eyes nan is not a finite number. Pass a scale between -10 and 10"),
    case("synth-mouth-inf", "dirs", ["synth", "--mouth", "inf"],
         "--mouth inf is not a finite number. Pass a scale between -10 and 10"),
    case("synth-pose-1e308", "dirs", ["synth", "--pose", "1e308"],
         f"--pose 1e+308 is outside the edit range -10..10. {SCALE}"),
    case("synth-edit-twice", "dirs", ["synth", "--eyes", "1", "--edit", "eyes=2"],
         "eyes is edited twice. Give one scale per property (e.g. --eyes 1.2)"),
    case("synth-edit-list", "dirs", ["synth", "--edit", "hair_color=1,2"],
         "--edit value '1,2' is not a number. e.g. --edit eyes=1.2"),
    case("synth-edit-unknown", "dirs", ["synth", "--edit", "smile=1"],
         "unknown property 'smile' for direction set glob. It has eyes, mouth, pose"),
    case("synth-target-range", "dirs", ["synth", "--animate", "a.gif", "--target", "mouth=0:1:3"],
         "--target value '0:1:3' is not a number. e.g. --target eyes=1.2"),
    case("synth-target-beyond", "dirs", ["synth", "--animate", "a.gif", "--target", "mouth=50"],
         f"--target mouth=50 is outside the edit range -10..10. {SCALE}"),
    case("synth-image-unknown", "dirs", ["synth", "--image", "99999"],
         "no image with id 99999 in the catalog. Image ids here run from 1 to 64"),
    case("synth-image-zero", "dirs", ["synth", "--image", "0"],
         "--image 0 is not an image id. Ids are whole numbers from 1, e.g. --image 1"),
    case("synth-image-2^70", "dirs", ["synth", "--image", 2**70],
         "--image 1180591620717411303424 is not an image id. Ids are whole numbers from 1, e.g. --image 1"),
    case("synth-image-empty-catalog", "empty", ["synth", "--image", "5"],
         "no image with id 5 in the catalog. The catalog has no images yet: run `ohlora generate --n 100`, or pass "
         "--seed"),
    case("synth-seed-negative", "dirs", ["synth", "--seed", "-1"], f"--seed {SEED}, got -1. Pass e.g. --seed 0"),
    case("synth-seed-2^32", "dirs", ["synth", "--seed", 2**32], f"--seed {SEED}, got 4294967296. Pass e.g. --seed 0"),
    case("synth-psi-nan", "dirs", ["synth", "--psi", "nan"], "--psi must be between 0 and 2, got nan. Pass e.g. --psi 1.0"),
    case("synth-trunc-huge", "dirs", ["synth", "--trunc-layers", "1000"],
         "--trunc-layers must be between 0 and 64, got 1,000. Pass e.g. --trunc-layers 8"),
    case("synth-layers", "dirs", ["synth", "--layers", "0-40"],
         "--layers goes up to 40 but tiny has 8 layers. Use layers 0..7"),
    case("synth-out-suffix", "dirs", ["synth", "--out", "x.jpg"], "--out x.jpg must end in .png. e.g. --out face.png"),
    case("synth-out-suffix-no-catalog", None, ["synth", "--seed", "1", "--out", "x.jpg"],
         "--out x.jpg must end in .png. e.g. --out face.png"),
    case("synth-animate-suffix", None, ["synth", "--seed", "1", "--animate", "x.png"],
         "--animate x.png must end in .gif. e.g. --animate talk.gif"),
    case("synth-eyes-no-catalog", None, ["synth", "--seed", "1", "--eyes", "nan"],
         "--eyes nan is not a finite number. Pass a scale between -10 and 10"),
    case("synth-units-bogus", None, ["synth", "--seed", "1", "--units", "bogus"],
         "--units must be raw or sigma, not 'bogus'. Pass --units sigma"),
    case("synth-units-uncalibrated", "uncal", ["synth", "--seed", "1", "--units", "sigma", "--eyes", "1"],
         "direction set global-tiny has no calibration for eyes (group all), so --units sigma cannot size it. "
         "Run `ohlora vectorfind calibrate global-tiny`, or pass --units raw"),
    case("synth-units-uncalibrated-animate", "uncal", ["synth", "--seed", "1", "--units", "sigma", "--animate", "a.gif"],
         "direction set global-tiny has no calibration for eyes (group all), so --units sigma cannot size it. "
         "Run `ohlora vectorfind calibrate global-tiny`, or pass --units raw"),
    case("synth-units-sigma-converted-beyond", "dirs", ["synth", "--seed", "1", "--directions", "svm-tiny",
                                                            "--units", "sigma", "--eyes", "1"],
         "--eyes 1 is 100 raw units along svm-tiny's eyes direction (group l, 1σ = 100 raw), outside the edit range "
         "-10..10. Pass at most 0.0998 σ there, or --units raw"),
    case("synth-units-sigma-wrong-way", "dirs", ["synth", "--seed", "1", "--directions", "svm-tiny", "--units",
                                                      "sigma", "--mouth", "0.1"],
         "direction set svm-tiny's mouth direction (group l) did not increase mouth when calibrated (-0.083 σ per "
         "unit), so --units sigma cannot size it. Pass --units raw"),
    case("synth-units-sigma-beyond-10", "dirs", ["synth", "--seed", "1", "--units", "sigma", "--eyes", "11"],
         f"--eyes 11 is outside the edit range -10..10. {SCALE}"),
    case("synth-row-negative", "dirs", ["synth", "--z-csv", "x.csv", "--row", "-1"],
         "--row must be >= 0, got -1. Pass e.g. --row 0"),
    # ------------------------------------------------------------------ studio
    case("studio-port-high", None, ["studio", "--port", "70000"],
         "--port must be between 0 and 65,535, got 70,000. Pass e.g. --port 8765"),
    case("studio-port-negative", None, ["studio", "--port", "-1"],
         "--port must be between 0 and 65,535, got -1. Pass e.g. --port 8765"),
    case("studio-host", None, ["studio", "--host", "0.0.0.0.0"],
         "--host '0.0.0.0.0' is not an IP address. Pass e.g. --host 127.0.0.1"),
    # ------------------------------------------------------------------ catalog
    case("catalog-merge-nothing", None, ["catalog", "merge"], "Error: Missing argument 'shards'", code=2),
    case("catalog-status-missing", None, ["catalog", "status"], "catalog {catalog} does not exist. Run `ohlora catalog init --catalog {catalog}`"),
    case("catalog-check-missing", None, ["catalog", "check"], "catalog {catalog} does not exist. Run `ohlora catalog init --catalog {catalog}`"),
    case("catalog-init-option", None, ["catalog", "init", "--bogus"], "Error: No such option: --bogus", code=2),
    case("catalog-upgrade-missing", None, ["catalog", "upgrade"], "catalog {catalog} does not exist. Run `ohlora catalog init --catalog {catalog}`"),
    # ------------------------------------------------------------------ model
    case("model-register-missing", None, ["model", "register", "missing.pth"],
         "checkpoint missing.pth does not exist. Check the path of the file to register"),
    case("model-register-name-empty", None, ["model", "register", "missing.pth", "--name", ""],
         f"--name '' is not a usable name. {NAME} (e.g. --name v8)"),
    case("model-register-cnn-name-dotdot", None, ["model", "register", "x.pt", "--kind", "cnn-gender", "--name", "../../x"],
         f"--name '../../x' is not a usable name. {NAME} (e.g. --name v8)"),
    case("model-register-stem", None, ["model", "register", "my model.pth"],
         f"the file name 'my model.pth' gives no usable name. Pass --name with {NAME[4:]}"),
    case("model-register-kind", None, ["model", "register", "x.pt", "--kind", "bogus"],
         "unknown --kind 'bogus'. Use generator or one of: cnn-gender, cnn-quality, cnn-age, cnn-glass, cnn-property"),
    case("model-list-option", None, ["model", "list", "--bogus"], "Error: No such option: --bogus", code=2),
    # ------------------------------------------------------------------ label
    case("label-export-n-zero", None, ["label", "export", "--out", "l", "--n", "0"],
         "--n must be at least 1, got 0. Pass e.g. --n 2000"),
    case("label-export-seed", None, ["label", "export", "--out", "l", "--seed", "-1"],
         f"--seed {SEED}, got -1. Pass e.g. --seed 0"),
    case("label-train-name-dotdot", None, ["label", "train", "--name", "../../../x"],
         f"--name '../../../x' is not a usable name. {NAME} (e.g. --name mine)"),
    case("label-train-name-absolute", None, ["label", "train", "--name", "/some/where/x"],
         f"--name '/some/where/x' is not a usable name. {NAME} (e.g. --name mine)"),
    case("label-train-name-empty", None, ["label", "train", "--name", ""],
         f"--name '' is not a usable name. {NAME} (e.g. --name mine)"),
    case("label-train-props-empty", None, ["label", "train", "--name", "x", "--props", ""],
         "--props names no property. Pass some of: gender, quality, age, glass"),
    case("label-train-props-unknown", None, ["label", "train", "--name", "x", "--props", "smile"],
         "unknown filter property 'smile'. Use some of: gender, quality, age, glass"),
    case("label-train-folds-one", None, ["label", "train", "--name", "x", "--folds", "1"],
         "--folds must be between 2 and 20, got 1. Pass e.g. --folds 5"),
    case("label-train-folds-huge", None, ["label", "train", "--name", "x", "--folds", "1000"],
         "--folds must be between 2 and 20, got 1,000. Pass e.g. --folds 5"),
    case("label-train-epochs", None, ["label", "train", "--name", "x", "--epochs", "0"],
         "--epochs must be between 1 and 100,000, got 0. Pass e.g. --epochs 100"),
    case("label-train-patience", None, ["label", "train", "--name", "x", "--patience", "0"],
         "--patience must be between 1 and 100,000, got 0. Pass e.g. --patience 20"),
    case("label-train-lr-nan", None, ["label", "train", "--name", "x", "--lr", "nan"],
         "--lr must be in (0, 1], got nan. Pass e.g. --lr 1e-4"),
    case("label-train-lr-inf", None, ["label", "train", "--name", "x", "--lr", "inf"],
         "--lr must be in (0, 1], got inf. Pass e.g. --lr 1e-4"),
    case("label-train-width-huge", None, ["label", "train", "--name", "x", "--width", "1e9"],
         "--width must be in (0, 4], got 1e+09. Pass e.g. --width 1"),
    case("label-train-width-zero", None, ["label", "train", "--name", "x", "--width", "0"],
         "--width must be in (0, 4], got 0. Pass e.g. --width 1"),
    case("label-train-seed", None, ["label", "train", "--name", "x", "--seed", "-5"],
         f"--seed {SEED}, got -5. Pass e.g. --seed 0"),
    case("label-train-resolution", None, ["label", "train", "--name", "x", "--csv", "x.csv", "--resolution", "33"],
         "--resolution must be a power of two from 32 to 1024, got 33. Pass e.g. --resolution 64"),
    case("label-import-model", "dirs", ["label", "import", "labels.csv", "--model", "nope"], "unknown model 'nope'. Use one of: synthetic-base, tiny, or a checkpoint path"),
    # ------------------------------------------------------------------ identity
    case("identity-prefix", None, ["identity", "import", "z.csv", "--prefix", "../x"],
         f"--prefix '../x' is not a usable name. {NAME} (e.g. --prefix seed-v8)"),
    case("identity-z-dim", None, ["identity", "import", "z.csv", "--z-dim", "0"],
         "--z-dim must be between 1 and 4,096, got 0. Pass e.g. --z-dim 512"),
    case("identity-label-size", None, ["identity", "import", "z.csv", "--label-size", "-1"],
         "--label-size must be between 0 and 4,096, got -1. Pass e.g. --label-size 7"),
    case("identity-list-option", None, ["identity", "list", "--bogus"], "Error: No such option: --bogus", code=2),
    # ------------------------------------------------------------------ synthetic
    case("synthetic-n-zero", None, ["synthetic", "render", "--n", "0", "--out", "r"],
         "--n must be a positive number of faces, got 0. Pass e.g. --n 20000"),
    case("synthetic-n-huge", None, ["synthetic", "render", "--n", "10000000000", "--out", "r"],
         "--n must be between 1 and 1,000,000, got 10,000,000,000. Pass e.g. --n 20000"),
    case("synthetic-resolution-huge", None, ["synthetic", "render", "--n", "1", "--resolution", 2**20, "--out", "r"],
         "--resolution must be at most 1024, got 1048576. Pass e.g. --resolution 64"),
    case("synthetic-resolution-odd", None, ["synthetic", "render", "--n", "1", "--resolution", "48", "--out", "r"],
         "resolution must be a power of two >= 32, got 48. See `ohlora synthetic render --help`"),
    case("synthetic-seed-start", None, ["synthetic", "render", "--n", "1", "--seed-start", "-1", "--out", "r"],
         f"--seed-start {SEED}, got -1. Pass e.g. --seed-start 0"),
    case("synthetic-seed-overflow", None, ["synthetic", "render", "--n", "2", "--seed-start", 2**32 - 1, "--out", "r"],
         "seeds 4294967295..4294967296 go past 4294967295. Lower --seed-start or --n"),
    case("synthetic-set-nan", None, ["synthetic", "render", "--n", "1", "--set", "glasses=nan", "--out", "r"],
         "--set value 'nan' holds nan, not a finite number. Pass finite numbers"),
    case("synthetic-set-list", None, ["synthetic", "render", "--n", "1", "--set", "glasses=0,1", "--out", "r"],
         "--set value '0,1' is not a number. e.g. --set eyes=1.2"),
    case("synthetic-info-option", None, ["synthetic", "info", "--bogus"], "Error: No such option: --bogus", code=2),
    # ------------------------------------------------------------------ demo: every option before the first image
    case("demo-n-zero", None, ["demo", "--n", "0"], "--n must be positive, got 0. Pass e.g. --n 2000"),
    case("demo-n-past-2^32", None, ["demo", "--n", 2**33],
         "seeds must lie in [0, 2^32), got 0..8589934591. Lower --seed-start or --n"),
    case("demo-groups", None, ["demo", "--groups", "3"], "--groups must be a power of two, got 3. Pass e.g. --groups 16"),
    case("demo-rule-typo", None, ["demo", "--rule", "mouht>=1"], f"unknown property 'mouht' in --rule 'mouht>=1'. {KNOWN}"),
    case("demo-rule-malformed", None, ["demo", "--rule", "gender>"],
         "malformed rule 'gender>'. Write rules like 'gender>=0.92' or 'age<=0.008'"),
    case("demo-cases", None, ["demo", "--cases", "100000"],
         "--cases must be between 1 and 2,000, got 100,000. Pass e.g. --cases 200"),
    case("demo-finetune-steps", None, ["demo", "--finetune-steps", "-1"],
         "--finetune-steps must be >= 0 and --cases >= 1. Pass e.g. --finetune-steps 300 --cases 20"),
    case("demo-model", None, ["demo", "--model", "nope"],
         "unknown model 'nope'. Use one of: synthetic-base, tiny, or a checkpoint path"),
]


@pytest.mark.parametrize("where,args,message,code,env", CASES)
def test_bad_option(cli, built_catalog, catalog_path, tmp_path, monkeypatch, where, args, message, code, env):
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    if where is not None:
        built_catalog(*BUILDS[where])
    before = catalog_rows(catalog_path)
    r = cli(*args, ok=False)
    if code == 2:
        assert_one_line_error(r, message, code=2, startswith=True)
    else:
        assert_one_line_error(r, f"Error: {message}".replace("{catalog}", str(catalog_path)))
    if where is None:  # refused on its options alone: nothing was created
        assert not catalog_path.exists(), r.stderr
        assert not (tmp_path / "ohlora-demo").exists() and not (tmp_path / "runs").exists()
    assert_unchanged(before, catalog_rows(catalog_path))


def _tree(command, path=()):
    yield path, command
    for name, sub in getattr(command, "commands", {}).items():
        yield from _tree(sub, (*path, name))


TREE = {" ".join(path): cmd for path, cmd in _tree(typer.main.get_command(app)) if path}


def test_the_table_covers_every_command():
    """At least one bad value per command and sub-command of the real tree (groups that run alone, like
    ``vectorfind``, count as commands)."""
    covered = {max((" ".join(p.values[1][:k]) for k in (1, 2) if " ".join(p.values[1][:k]) in TREE), key=len)
               for p in CASES}
    commands = {name for name, cmd in TREE.items() if not getattr(cmd, "commands", None)} | {"vectorfind"}
    assert len(CASES) >= 100
    assert commands - covered == set()


def test_cuda_from_the_environment_names_the_variable(cli, monkeypatch):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    monkeypatch.setenv("OHLORA_DEVICE", "cuda")
    r = cli("synth", "--seed", "1", "--out", "x.png", ok=False)
    assert_one_line_error(r, "Error: OHLORA_DEVICE=cuda was asked for but no CUDA device is available. "
                             "Use --device cpu or auto")


def test_generate_looks_seeds_up_in_bounded_chunks(built_catalog, catalog_path):
    """``generate --n 4294967295`` streams: the first batch comes without the whole seed range in memory."""
    from ohlora_cli.catalog.db import open_catalog
    from ohlora_cli.catalog.registry import resolve_generator
    from ohlora_cli.config import GenerateConfig
    from ohlora_cli.stages.generate import SEED_CHUNK, missing_batches, missing_count

    GenerateConfig(n=2**32 - 1)  # accepted: every seed of the range is valid
    built_catalog(*DIRS)
    catalog = open_catalog(catalog_path)
    try:
        gen = resolve_generator(catalog, "tiny")
        seeds = range(0, 2**32 - 1)
        mode = "random" if gen.label_size else "none"
        assert missing_count(catalog, gen.id, mode, seeds) == 2**32 - 1 - 64
        tracemalloc.start()
        batches = missing_batches(catalog, gen.id, mode, seeds, 16)
        first = next(batches)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    finally:
        catalog.close()
    assert first == list(range(64, 80))  # seeds 0..63 are stored
    assert peak < 40 * SEED_CHUNK * 8 + 20_000_000, peak  # one chunk of seeds, not 2^32 of them


def test_demo_refuses_a_folder_of_another_demo(cli, tmp_path):
    """A second demo into the same folder resumes only with the same options; otherwise it says what to do."""
    folder = tmp_path / "quick"
    folder.mkdir()
    (folder / "demo.json").write_text(json.dumps({"--n": 400, "--groups": 4, "--finetune-steps": 20, "--cases": 20,
                                                  "--rule": ["gender>=0.92"], "--model": "tiny"}))
    r = cli("demo", "--n", "5", "--groups", "4", "--finetune-steps", "20", "--rule", "gender>=0.92", "--out", folder,
            ok=False)
    assert_one_line_error(r, f"Error: {folder} holds a demo made with other options (--n 400 there, 5 now). Pass "
                             "another --out, or the same options to resume that demo")
    (folder / "demo.json").unlink()
    shutil.copyfile(ROOT / "ohlora.db.example", folder / "ohlora.db")
    r = cli("demo", "--out", folder, ok=False)
    assert_one_line_error(r, f"Error: {folder} holds a catalog that no `ohlora demo` of this version made. Pass "
                             f"another --out, or delete {folder}")
    assert sorted(p.name for p in folder.iterdir()) == ["ohlora.db"]


def test_readme_states_the_limits():
    text = (ROOT / "README.md").read_text()
    section = text.split("## Guarantees", 1)[1].split("\n## ", 1)[0]
    for value in (f"{limits.MAX_SCALE:g}", f"{limits.MAX_SHEET_IMAGES:,}", f"{limits.MAX_BATCH_SIZE:,}",
                  f"{limits.MAX_EVAL_CASES:,}", f"{limits.MAX_SEED:,}".replace(",", ""), "64"):
        assert value in section, value
    assert math.isfinite(limits.MAX_R1) and sys.maxsize > limits.MAX_TRAIN_STEPS


def test_advice_in_an_empty_folder_leads_to_generate(cli):
    """Each error's advice points at the command that fixes it: synth → generate, score, vectorfind;
    vectorfind → generate, then score; score → generate."""
    r = cli("synth", "--eyes", "1.2", ok=False)
    assert_one_line_error(r, "Error: generator tiny has no directions yet. Run `ohlora generate --n 1000`, "
                             "`ohlora score` and `ohlora vectorfind`, or pass --directions seed-v8 after "
                             "`ohlora vectorfind import-seed DIR`")
    r = cli("vectorfind", ok=False)
    assert_one_line_error(r, "Error: no scores for property 'eyes' yet. The generator has no images yet: run "
                             "`ohlora generate --n 1000`, then `ohlora score`")
    r = cli("filter", "--name", "x", ok=False)
    assert_one_line_error(r, "Error: no scores for property 'gender' yet. The generator has no images yet: run "
                             "`ohlora generate --n 1000`, then `ohlora score`")
    r = cli("score", ok=False)
    assert_one_line_error(r, "Error: the catalog has no images to score. Run `ohlora generate --n 100` first")
