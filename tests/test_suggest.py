"""alseg suggest: the partial folder, the labeled list, the picks and their files, the continuing loop, bad input.

The folders are 16 synthetic 32 px images written as PNG files, the first 8 with masks; the model is the untrained
timm test encoder, so every call takes seconds.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from alseg.cli import app
from alseg.datasets.folder import load_folder
from alseg.datasets.partial import load_partial
from alseg.errors import AlsegUsageError
from alseg.events import Collect, Phase
from alseg.models import build_model
from alseg.pool import pool_pass
from alseg.strategies.needs import parse_needs
from alseg.suggestions.checkpoint import read_checkpoint
from alseg.suggestions.events import PoolCounter, PoolProgress, pool_pass_images
from alseg.suggestions.labeled import match_names, read_names
from alseg.suggestions.options import SHARED_OPTIONS, bench_overrides
from alseg.suggestions.outputs import suggestions_frame
from alseg.suggestions.sheet import erode, fit_size, grid_shape, outline

ENV = {"COLUMNS": "250", "ALSEG_DEBUG": None}
runner = CliRunner()
N_IMAGES, N_MASKS = 16, 8
TINY = ["--image-size", "32", "--encoder", "tu-test_efficientnet", "--encoder-weights", "none", "--epochs", "1",
        "--initial-epochs", "2", "--batch-size", "16", "--device", "cpu", "--threads", "1", "--no-plugins", "--quiet"]


def invoke(*args: object):
    return runner.invoke(app, [str(a) for a in args], env=ENV)


def make_folder(root: Path, data, n_images: int = N_IMAGES, n_masks: int = N_MASKS) -> Path:
    """images/img<i>.png for i < n_images, masks/img<i>.png for i < n_masks (the synthetic ground truth)."""
    (root / "images").mkdir(parents=True)
    if n_masks:
        (root / "masks").mkdir()
    for i in range(n_images):
        Image.fromarray(data.images[i]).save(root / "images" / f"img{i}.png")
        if i < n_masks:
            add_mask(root, data, i)
    return root


def add_mask(root: Path, data, i: int) -> None:
    """Annotate image i: its synthetic mask as a {0, 255} PNG."""
    (root / "masks").mkdir(exist_ok=True)
    Image.fromarray(data.masks[i].astype(np.uint8) * 255).save(root / "masks" / f"img{i}.png")


def suggest(data: Path, out: Path, cache: Path, *extra: object, labeled: object = "masked", budget: int = 3,
            strategy: str = "entropy"):
    return invoke("suggest", "--data-dir", data, "--labeled", labeled, "--budget", budget, "--strategy", strategy,
                  "--out", out, "--cache-dir", cache, *TINY, *extra)


def summary(out: Path) -> dict:
    return json.loads((out / "suggest.json").read_text())


def picks(out: Path) -> list[str]:
    return list(pd.read_csv(out / "suggestions.csv")["file"])


@dataclass
class First:
    root: Path
    data: Path
    out: Path
    cache: Path
    output: str


@pytest.fixture(scope="module")
def first(tmp_path_factory, synthetic32) -> First:
    """One finished round 0: entropy picks 3 of the 8 unmasked images after training on the 8 masked ones."""
    root = tmp_path_factory.mktemp("suggest")
    f = First(root, make_folder(root / "data", synthetic32), root / "out", root / "cache", "")
    result = suggest(f.data, f.out, f.cache)
    assert result.exit_code == 0, result.output
    f.output = result.output
    return f


def assert_usage_error(result, *fragments: str) -> None:
    """Exit 2, one message (no traceback) holding every fragment."""
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    text = " ".join(result.output.split())
    for fragment in fragments:
        assert fragment in text, (fragment, text)


# --- pure parts ------------------------------------------------------------------------------------------------


def test_read_names_skips_blank_comment_and_repeated_lines():
    assert read_names("12.png\n\n  7 \n# a comment\n12.png\r\nimg3.jpg\n") == ["12.png", "7", "img3.jpg"]
    assert read_names("") == []


def test_match_names_takes_file_names_and_stems():
    files, ids = ("1.png", "2.png", "10.tif"), ("1", "2", "10")
    assert match_names(["10.tif", "2", "1.png", "3", "2.jpg"], files, ids) == ([2, 1, 0], ["3", "2.jpg"])


def test_outline_is_the_inner_border_of_the_mask():
    mask = np.zeros((7, 7), dtype=bool)
    mask[1:6, 1:6] = True
    ring = outline(mask, 1)
    assert ring.sum() == 16 and not ring[3, 3] and ring[1, 1] and ring[5, 3]
    assert outline(mask, 2).sum() == 24  # all but the centre of the 5 x 5 square
    assert not erode(np.eye(3, dtype=bool)).any()
    full = np.ones((3, 3), dtype=bool)  # outside the picture counts as background
    assert outline(full, 1).sum() == 8 and not outline(full, 1)[1, 1]


def test_fit_size_and_grid_shape():
    assert fit_size(384, 288, 224) == (224, 168)
    assert fit_size(10, 1000, 224) == (2, 224)
    assert fit_size(50, 50, 224) == (224, 224)
    assert grid_shape(3) == (1, 3) and grid_shape(5) == (1, 5) and grid_shape(7) == (2, 5) and grid_shape(30) == (6, 5)
    with pytest.raises(ValueError):
        grid_shape(0)
    with pytest.raises(ValueError):
        fit_size(0, 10, 224)


def test_pool_pass_images_counts_the_views_of_each_pass():
    assert pool_pass_images(parse_needs(set()), 100, 30) == 100  # entropy only, always computed
    assert pool_pass_images(parse_needs({"entropy:max", "embedding"}), 100, 30) == 100
    assert pool_pass_images(parse_needs({"tta_variance", "embedding", "labeled:embedding"}), 100, 30) == 800 + 30
    assert pool_pass_images(parse_needs({"labeled:tta_variance"}), 100, 30) == 100 + 240


def test_pool_counter_reports_the_forwards_of_the_pool_pass_only(synthetic32):
    model = build_model("tu-test_efficientnet", "none", 0)
    events = Collect()
    counter = PoolCounter(events)
    idx = np.arange(10)
    counter.watch(model, pool_pass_images(parse_needs({"tta_variance"}), len(idx), 0))
    counter(Phase("pool pass"))
    pool_pass(model, synthetic32.images, idx, {"entropy", "tta_variance"}, 4, torch.device("cpu"))
    counter(Phase("select"))
    pool_pass(model, synthetic32.images, idx, {"entropy"}, 4, torch.device("cpu"))  # not counted any more
    progress = [e for e in events if isinstance(e, PoolProgress)]
    assert progress[0] == PoolProgress(0, 80) and progress[-1] == PoolProgress(80, 80)
    assert [e.done for e in progress] == sorted(e.done for e in progress)
    assert events[-1] == Phase("select")


def test_suggestions_frame_follows_the_strategy_order():
    pool, chosen = np.array([2, 5, 7]), np.array([7, 2])
    arrays = {"entropy": np.array([0.1, 0.2, 0.3]), "fg_bg_similarity": np.array([0.9, 0.8, 0.7])}
    files = [f"f{i}.png" for i in range(8)]
    frame = suggestions_frame(files, chosen, pool, np.array([1.0, 2.0, 3.0]), arrays,
                              ["entropy", "fg_bg_similarity"], np.array([0.25, 0.5]))
    assert frame.to_dict("list") == {"rank": [1, 2], "file": ["f7.png", "f2.png"], "score": [3.0, 1.0],
                                     "entropy": [0.3, 0.1], "fg_bg_similarity": [0.7, 0.9],
                                     "predicted_foreground": [0.25, 0.5]}
    without = suggestions_frame(files, chosen, pool, None, arrays, ["entropy"], np.array([0.0, 1.0]))
    assert without["score"].isna().all()


def test_suggest_borrows_benchs_options():
    result = invoke("suggest", "--help")
    assert result.exit_code == 0
    bench = invoke("bench", "--help").output
    for name in SHARED_OPTIONS:  # every one of them, help text and all, as bench has it
        flag = "--" + name.replace("_", "-")
        assert flag in bench and flag in result.output, flag
    assert "auto | cpu | cuda" in result.output  # bench's help text of --device
    assert "--data-dir" in result.output and "--model" in result.output and "--strategies" not in result.output
    assert bench_overrides({"no_plugins": True, "allow_empty_masks": False, "epochs": None, "lr": 0.01}) == {
        "plugins": False, "allow_empty_masks": None, "epochs": None, "lr": 0.01}
    assert bench_overrides({"no_plugins": False, "allow_majority_foreground": True}) == {
        "plugins": None, "allow_majority_foreground": True}


# --- the partial folder ---------------------------------------------------------------------------------------


def test_partial_folder_keeps_images_without_masks(tmp_path, synthetic32):
    folder = load_partial(make_folder(tmp_path / "d", synthetic32), 32, tmp_path / "cache")
    assert folder.files == tuple(f"img{i}.png" for i in range(N_IMAGES))
    assert list(folder.has_mask) == [True] * N_MASKS + [False] * (N_IMAGES - N_MASKS)
    np.testing.assert_array_equal(folder.images, synthetic32.images[:N_IMAGES])
    np.testing.assert_array_equal(folder.masks[:N_MASKS], synthetic32.masks[:N_MASKS])
    assert not folder.masks[N_MASKS:].any()
    again = load_partial(tmp_path / "d", 32, tmp_path / "cache")  # from the cache: the same arrays
    np.testing.assert_array_equal(again.masks, folder.masks)


def test_partial_folder_decodes_masks_as_bench_does(tmp_path, synthetic32):
    root = make_folder(tmp_path / "d", synthetic32, n_images=4, n_masks=4)
    Image.fromarray(synthetic32.masks[1].astype(np.uint8)).save(root / "masks" / "img1.png")  # {0, 1}
    red = np.zeros((32, 32, 3), dtype=np.uint8)
    red[synthetic32.masks[2]] = (255, 0, 0)
    Image.fromarray(red).save(root / "masks" / "img2.png")  # red on black
    partial = load_partial(root, 32, None)
    folder = load_folder(data_dir=root, image_size=32, cache_dir=None)
    np.testing.assert_array_equal(partial.masks, folder.masks)
    np.testing.assert_array_equal(partial.masks, synthetic32.masks[:4])
    assert any("red channel" in w for w in partial.warnings)


def test_partial_folder_refuses_what_it_cannot_pair(tmp_path, synthetic32):
    root = make_folder(tmp_path / "d", synthetic32, n_images=4, n_masks=2)
    Image.fromarray(synthetic32.masks[0].astype(np.uint8) * 255).save(root / "masks" / "orphan.png")
    with pytest.raises(AlsegUsageError, match=r"1 mask\(s\) in .* have no image: orphan.png"):
        load_partial(root, 32, None)
    with pytest.raises(AlsegUsageError, match="has no images/ subfolder"):
        load_partial(tmp_path, 32, None)
    (tmp_path / "empty" / "images").mkdir(parents=True)
    with pytest.raises(AlsegUsageError, match="no image files"):
        load_partial(tmp_path / "empty", 32, None)
    Image.fromarray(np.zeros((8, 8), dtype=np.uint8)).save(root / "masks" / "img3.png")  # image is 32 x 32
    (root / "masks" / "orphan.png").unlink()
    with pytest.raises(AlsegUsageError, match=r"mask .*img3\.png is 8x8"):
        load_partial(root, 32, None)


# --- a call and its outputs ----------------------------------------------------------------------------------------


def test_suggest_writes_the_picks_and_their_files(first):
    assert "Traceback" not in first.output
    assert "8 labeled, 8 unlabeled" in first.output and "annotate next (round 0): 3 images" in first.output
    frame = pd.read_csv(first.out / "suggestions.csv")
    assert list(frame.columns) == ["rank", "file", "score", "entropy", "predicted_foreground"]
    assert list(frame["rank"]) == [1, 2, 3]
    assert set(frame["file"]) <= {f"img{i}.png" for i in range(N_MASKS, N_IMAGES)}  # never a labeled image
    assert list(frame["score"]) == list(frame["entropy"])  # entropy ranks by its signal ...
    assert list(frame["score"]) == sorted(frame["score"], reverse=True)  # ... highest first
    assert frame["predicted_foreground"].between(0, 1).all()
    info = summary(first.out)
    assert info["round"] == 0 and info["strategy"] == "entropy" and info["seed"] == 0
    assert info["labeled"] == [f"img{i}.png" for i in range(N_MASKS)] and info["suggested"] == list(frame["file"])
    assert info["n_pool"] == 8 and info["model"]["epochs"] == 2 and "initial weights" in info["model"]["source"]
    assert info["config"]["encoder"] == "tu-test_efficientnet" and info["config"]["image_size"] == 32
    assert info["precision"] == "fp32" and info["device"]["type"] == "cpu" and "torch" in info["versions"]
    ckpt = read_checkpoint(first.out / "model.pt", "model.pt", "")
    assert ckpt.round == 0 and ckpt.labeled == info["labeled"] and ckpt.strategy == "entropy"
    assert ckpt.config == info["config"]
    page = (first.out / "suggestions.html").read_text()
    assert len(re.findall(r'src="data:image/png;base64,', page)) == 3 and "http" not in page
    assert all(name in page for name in frame["file"])
    with Image.open(first.out / "suggestions.png") as sheet:
        assert sheet.mode == "RGB" and sheet.size[0] > 3 * 224


def test_the_next_call_fine_tunes_on_the_new_masks(first, tmp_path, synthetic32):
    data, out = tmp_path / "data", tmp_path / "out"
    shutil.copytree(first.data, data)
    shutil.copytree(first.out, out)
    before = picks(out)
    for name in before:
        add_mask(data, synthetic32, int(name[3:-4]))
    result = suggest(data, out, first.cache)
    assert result.exit_code == 0, result.output
    info = summary(out)
    assert info["round"] == 1 and info["model"]["epochs"] == 1  # --epochs when fine-tuning, not --initial-epochs
    assert "fine-tuned from" in info["model"]["source"]
    assert info["labeled"] == sorted([f"img{i}.png" for i in range(N_MASKS)] + before,
                                     key=lambda n: int(n[3:-4]))
    assert not set(info["suggested"]) & set(info["labeled"]) and len(info["suggested"]) == 3
    assert "3 image(s) labeled since round 0" in " ".join(result.output.split())
    assert read_checkpoint(out / "model.pt", "model.pt", "").round == 1
    again = suggest(data, out, first.cache)  # no new mask: round 2 trains again on the same 11
    assert again.exit_code == 0, again.output
    assert "no image labeled since round 1, training again on the same 11" in " ".join(again.output.split())
    assert summary(out)["round"] == 2 and summary(out)["labeled"] == info["labeled"]


def test_model_option_selects_with_the_checkpoint_as_it_is(first, tmp_path):
    out = tmp_path / "out"
    result = suggest(first.data, out, first.cache, "--model", first.out / "model.pt")
    assert result.exit_code == 0, result.output
    info = summary(out)
    assert info["model"]["epochs"] == 0 and "--model" in info["model"]["source"] and info["round"] == 1
    assert picks(out) == picks(first.out)  # the same weights rank the pool by entropy the same way
    ckpt = read_checkpoint(out / "model.pt", "model.pt", "")
    assert ckpt.labeled == summary(first.out)["labeled"] and ckpt.round == 1


def test_a_labeled_list_leaves_unlisted_masks_out(tmp_path, synthetic32, first):
    data = make_folder(tmp_path / "data", synthetic32)
    (tmp_path / "labeled.txt").write_text("img0.png\nimg1\n# not yet: img2\nimg3.png\nimg4.png\n")
    result = suggest(data, tmp_path / "out", first.cache, labeled=tmp_path / "labeled.txt", budget=8,
                     strategy="random")
    assert result.exit_code == 0, result.output
    info = summary(tmp_path / "out")
    assert info["labeled"] == ["img0.png", "img1.png", "img3.png", "img4.png"]
    assert info["excluded"] == ["img2.png", "img5.png", "img6.png", "img7.png"]
    assert sorted(info["suggested"], key=lambda n: int(n[3:-4])) == [f"img{i}.png" for i in range(8, 16)]
    assert "have a mask but are not in --labeled" in " ".join(result.output.split())
    assert pd.read_csv(tmp_path / "out" / "suggestions.csv")["score"].isna().all()  # random has no score


@pytest.mark.parametrize("strategy, signal", [("proposed", "fg_bg_similarity"),
                                              ("asa(passes=2,views=ensemble)", None)])
def test_strategies_with_a_training_term_or_an_ensemble_are_supported(first, tmp_path, strategy, signal):
    result = suggest(first.data, tmp_path / "out", first.cache, strategy=strategy)
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(tmp_path / "out" / "suggestions.csv")
    assert len(frame) == 3 and frame["score"].isna().all()  # no cheap score: proposed has none, asa trains members
    if signal:
        assert signal in frame.columns


# --- bad input: exit 2, one message ---------------------------------------------------------------------------


def test_no_labeled_image_is_refused(tmp_path, synthetic32, first):
    data = make_folder(tmp_path / "data", synthetic32, n_masks=0)
    assert_usage_error(suggest(data, tmp_path / "out", first.cache), "--labeled masked: no image of",
                       "has a mask yet")
    (tmp_path / "empty.txt").write_text("# nothing yet\n")
    assert_usage_error(suggest(first.data, tmp_path / "out", first.cache, labeled=tmp_path / "empty.txt"),
                       "names no image")


def test_one_labeled_image_is_too_few_to_train(tmp_path, first):
    (tmp_path / "one.txt").write_text("img0.png\n")
    assert_usage_error(suggest(first.data, tmp_path / "out", first.cache, labeled=tmp_path / "one.txt"),
                       "only 1 labeled image (img0.png)", "at least 2")


def test_a_labeled_name_without_a_mask_is_refused(tmp_path, first):
    (tmp_path / "list.txt").write_text("img0.png\nimg1.png\nimg12.png\n")
    assert_usage_error(suggest(first.data, tmp_path / "out", first.cache, labeled=tmp_path / "list.txt"),
                       "names 1 image(s) without a mask", "img12.png", "add their masks")


def test_a_labeled_name_not_in_the_folder_is_refused(tmp_path, first):
    (tmp_path / "list.txt").write_text("img0.png\nnope.png\nimg1.jpg\n")
    assert_usage_error(suggest(first.data, tmp_path / "out", first.cache, labeled=tmp_path / "list.txt"),
                       "names 2 image(s) that are not in", "nope.png, img1.jpg")
    assert_usage_error(suggest(first.data, tmp_path / "out", first.cache, labeled=tmp_path / "missing.txt"),
                       "missing.txt: no such file", "or the word 'masked'")


def test_a_budget_larger_than_the_pool_is_refused(tmp_path, first):
    assert_usage_error(suggest(first.data, tmp_path / "out", first.cache, budget=9),
                       "--budget 9 is more than the 8 unlabeled image(s)", "at most 8")


def test_a_budget_below_one_is_refused(tmp_path, first):
    assert_usage_error(suggest(first.data, tmp_path / "out", first.cache, budget=0), "--budget must be at least 1")
    assert_usage_error(suggest(first.data, tmp_path / "out", first.cache, budget=-3), "--budget must be at least 1")


def test_unknown_or_several_strategies_are_refused(tmp_path, first):
    assert_usage_error(suggest(first.data, tmp_path / "out", first.cache, strategy="nope"),
                       "unknown strategy 'nope'", "available: asa")
    assert_usage_error(suggest(first.data, tmp_path / "out", first.cache, strategy="random,entropy"),
                       "names 2 strategies", "suggest selects with one")


def test_a_training_term_a_model_was_not_trained_with_is_refused(tmp_path, first):
    assert_usage_error(suggest(first.data, tmp_path / "out", first.cache, "--model", first.out / "model.pt",
                               strategy="proposed"),
                       "need 'unlabeled_loss'", "was trained with 'entropy'", "leave out --model")


def test_a_missing_or_corrupt_model_is_refused(tmp_path, first):
    assert_usage_error(suggest(first.data, tmp_path / "out", first.cache, "--model", tmp_path / "none.pt"),
                       "--model:", "none.pt does not exist")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint at all")
    assert_usage_error(suggest(first.data, tmp_path / "out", first.cache, "--model", tmp_path / "junk.pt"),
                       "junk.pt cannot be read", "damaged or not a model.pt")
    torch.save({"round": 0, "state_dict": {}}, tmp_path / "bench.pt")  # an `alseg bench` checkpoint
    assert_usage_error(suggest(first.data, tmp_path / "out", first.cache, "--model", tmp_path / "bench.pt"),
                       "bench.pt is not a model.pt written by `alseg suggest`")
    raw = (first.out / "model.pt").read_bytes()
    (tmp_path / "torn.pt").write_bytes(raw[: len(raw) // 2])
    assert_usage_error(suggest(first.data, tmp_path / "out", first.cache, "--model", tmp_path / "torn.pt"),
                       "torn.pt cannot be read")


def test_a_model_of_another_encoder_or_image_size_is_refused(tmp_path, first):
    model = first.out / "model.pt"
    assert_usage_error(suggest(first.data, tmp_path / "out", first.cache, "--model", model, "--image-size", "64"),
                       "was trained with --image-size 32, but this call uses --image-size 64", "pass --image-size 32")
    assert_usage_error(suggest(first.data, tmp_path / "out", first.cache, "--model", model, "--encoder", "resnet18"),
                       "was trained with --encoder tu-test_efficientnet, but this call uses --encoder resnet18")


def test_the_previous_rounds_model_must_fit_too(tmp_path, first):
    out = tmp_path / "out"
    shutil.copytree(first.out, out)
    assert_usage_error(suggest(first.data, out, first.cache, "--image-size", "64"),
                       "(the previous round's model)", "--image-size 32", "choose a new --out")
    (out / "model.pt").write_bytes(b"\0" * 100)
    assert_usage_error(suggest(first.data, out, first.cache), "cannot be read", "delete it to start the loop afresh")


def test_other_bad_arguments_are_refused(tmp_path, first):
    assert_usage_error(suggest(first.data, tmp_path / "out", first.cache, "--seed", "-1"), "--seed must be")
    (tmp_path / "file").write_text("x")
    assert_usage_error(suggest(first.data, tmp_path / "file", first.cache), "--out", "is a file")
    assert_usage_error(suggest(tmp_path / "nowhere", tmp_path / "out", first.cache), "nowhere does not exist")
    assert_usage_error(suggest(first.data, tmp_path / "out", first.cache, "--image-size", "33"),
                       "--image-size must be a multiple of 32")
