"""Each step of `citypatrol-train` on a tiny slice (tests/training/conftest.py), plus its pure parts."""

from __future__ import annotations

import json
import os
import shutil
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pytest

from cv.config import load_taxonomy
from cv.geometry import box_iou
from training.build import label_file, load_index, polygon_to_box, read_labels, read_source_labels, split_of
from training.manifest import ManifestError, load_manifest, load_manifests

pytestmark = pytest.mark.slow


# --- manifests and class mapping -------------------------------------------------------------------

def test_manifests_validate_and_map_onto_the_taxonomy():
    taxonomy = load_taxonomy()
    manifests = {m.name: m for m in load_manifests()}
    assert set(manifests) == {"facades", "garbage_bags", "street_vehicles"}
    assert manifests["facades"].classes == {3: "shop_sign", 4: "window_ad"}
    assert set(manifests["garbage_bags"].classes.values()) == {"garbage"}
    assert manifests["street_vehicles"].classes == {0: "motorcycle", 1: "bus", 2: "car"}
    for m in manifests.values():
        assert m.licence and m.credit and set(m.complete) <= set(taxonomy.names)
    assert "WoosongVision" in manifests["garbage_bags"].credit


def test_bad_manifest_names_file_and_key(tmp_path):
    bad = tmp_path / "facades.yaml"
    bad.write_text("name: facades\npath: facades\nformat: boxes\nlicence: CC0-1.0\ncredit: x\n"
                   "classes: {3: signboard}\ncomplete: []\n")
    with pytest.raises(ManifestError, match=r"facades\.yaml.*classes.*signboard"):
        load_manifest(bad)
    bad.write_text("name: facades\npath: facades\nformat: boxes\nlicence: CC0-1.0\ncredit: x\n"
                   "classes: {3: shop_sign}\ncomplete: [shop_sign]\nfolder: oops\n")
    with pytest.raises(ManifestError, match=r"folder"):
        load_manifest(bad)


def test_source_labels_are_mapped_and_unmapped_classes_dropped(shared_dir):
    taxonomy = load_taxonomy()
    facades = {m.name: m for m in load_manifests()}["facades"]
    label = shared_dir / "datasets" / "facades" / "labels" / "img_1.txt"
    raw = [line.split()[0] for line in label.read_text().splitlines()]
    rows = read_source_labels(label, facades, taxonomy)
    assert len(rows) == sum(c in ("3", "4") for c in raw)
    assert {r[0] for r in rows} <= {taxonomy.index("shop_sign"), taxonomy.index("window_ad")}


# --- polygon → box and the fixed split ---------------------------------------------------------------

def test_polygon_to_box():
    assert polygon_to_box([0.1, 0.2, 0.5, 0.3, 0.3, 0.6]) == pytest.approx((0.3, 0.4, 0.4, 0.4))
    assert polygon_to_box([-0.1, 0.5, 0.5, 1.2, 0.2, 0.9]) == pytest.approx((0.25, 0.75, 0.5, 0.5))  # clipped
    with pytest.raises(ValueError):
        polygon_to_box([0.1, 0.2, 0.3, 0.4])


def test_garbage_polygons_become_their_bounding_boxes(shared_dir):
    manifest = {m.name: m for m in load_manifests()}["garbage_bags"]
    label = sorted((shared_dir / "datasets" / "garbage_bags" / "labels").glob("*.txt"))[1]
    rows = read_source_labels(label, manifest, load_taxonomy())
    polygons = [list(map(float, line.split()[1:])) for line in label.read_text().splitlines() if line.strip()]
    assert len(rows) == len(polygons) > 0
    for row, poly in zip(rows, polygons):
        xs, ys = poly[0::2], poly[1::2]
        assert row[0] == load_taxonomy().index("garbage")
        assert row[1:] == pytest.approx(((min(xs) + max(xs)) / 2, (min(ys) + max(ys)) / 2,
                                         max(xs) - min(xs), max(ys) - min(ys)), abs=1e-6)


def test_validation_split_is_fixed_by_file_name(shared_dir):
    names = [p.name for p in (shared_dir / "datasets" / "facades" / "images").glob("*.jpg")]
    splits = [split_of(n) for n in names]
    assert splits == [split_of(n) for n in names]  # deterministic
    assert split_of("/somewhere/else/" + names[0]) == splits[0]  # the file name only
    assert 0.08 < splits.count("val") / len(names) < 0.22


# --- build / teacher / synth on the tiny slice ---------------------------------------------------

def test_build_links_images_and_keeps_both_splits(tiny_work):
    records = [r for r in load_index(tiny_work) if not r.synthetic]
    assert {r.source for r in records} == {"facades", "garbage_bags", "street_vehicles"}
    assert {r.split for r in records} == {"train", "val"}
    for r in records:
        assert Path(r.image).is_symlink() and r.split == split_of(r.original)
        for row in read_labels(tiny_work / "data" / "labels" / r.split / f"{r.name}.txt"):
            assert 0 <= row[0] < 13 and all(0 <= v <= 1 for v in row[1:])


def test_teacher_decodes_known_boxes(shared_dir):
    """The COCO teacher's own head finds the labelled car of a street_vehicles photo."""
    from training.teacher import Teacher, yolo_to_xyxy

    teacher = Teacher(shared_dir / "weights" / "yolov5n-coco.pt")
    image_path = shared_dir / "datasets" / "street_vehicles" / "images" / "004169d00d08055e.jpg"
    image = cv2.imread(str(image_path))
    h, w = image.shape[:2]
    truth = read_labels(image_path.parent.parent / "labels" / "004169d00d08055e.txt")
    car = load_taxonomy().index("car")
    boxes, conf, cls = teacher.detect(image, conf=0.25)
    gt = yolo_to_xyxy(truth, w, h)  # source id 2 is car
    assert len(gt) == 1 and truth[0][0] == 2
    ious = box_iou(gt, boxes)[0]
    best = int(ious.argmax())
    assert ious[best] > 0.85 and cls[best] == car and conf[best] > 0.7
    # and on a resized copy the box scales with the frame
    boxes2, _, cls2 = teacher.detect(cv2.resize(image, (1280, 720)), conf=0.25)
    scaled = gt * np.array([2, 720 / 640, 2, 720 / 640], np.float32)
    assert box_iou(scaled, boxes2[cls2 == car]).max() > 0.8


def test_teacher_threshold_is_measured_and_complete_classes_not_duplicated(tiny_work):
    from training.teacher import measure_threshold, raw_path, read_raw

    m = measure_threshold(tiny_work)
    assert m["classes"] == ["motorcycle", "car", "bus"] and m["labels"] > 0
    assert m["chosen_threshold"] in [row["threshold"] for row in m["table"]]
    taxonomy = load_taxonomy()
    complete = {taxonomy.index(c) for c in ("motorcycle", "car", "bus")}
    for r in load_index(tiny_work):
        if r.source != "street_vehicles" or r.synthetic:
            continue
        src = read_labels(tiny_work / "src_labels" / r.split / f"{r.name}.txt")
        merged = read_labels(tiny_work / "data" / "labels" / r.split / f"{r.name}.txt")
        assert [x for x in merged if x[0] in complete] == [x for x in src if x[0] in complete]
        teacher_people = [x for x in read_raw(raw_path(tiny_work, r)) if x[0] == 0 and x[5] >= 0.25]
        assert sum(x[0] == 0 for x in merged) <= len(teacher_people)


def test_teacher_adds_no_label_where_an_operator_rejected_one(tiny_work, tmp_path):
    import shutil

    from training.build import save_index
    from training.teacher import merge, yolo_to_xyxy

    work = tmp_path / "work"
    shutil.copytree(tiny_work, work, symlinks=True)
    records = load_index(work)
    record = next(r for r in records if not r.synthetic and r.extra.get("teacher_labels"))
    merged = read_labels(work / "data" / "labels" / record.split / f"{record.name}.txt")
    taught = merged[-1]  # teacher labels follow the source's own
    x1, y1, x2, y2 = yolo_to_xyxy([taught], record.width, record.height)[0]
    record.extra["rejected_boxes"] = [[taught[0], *(float(v) for v in (x1 / record.width, y1 / record.height,
                                                                       x2 / record.width, y2 / record.height))]]
    save_index(work, records)
    merge(work, threshold=0.25)
    again = read_labels(work / "data" / "labels" / record.split / f"{record.name}.txt")
    assert taught not in again and len(again) == len(merged) - 1


def test_synthetic_images_keep_their_backgrounds_split(tiny_work):
    records = load_index(tiny_work)
    real = {r.name: r for r in records if not r.synthetic}
    synthetic = [r for r in records if r.synthetic]
    assert {r.synthetic for r in synthetic} == {"fly_poster", "fly_poster_crop", "garbage", "wall_crop"}
    taxonomy = load_taxonomy()
    for r in synthetic:
        assert r.split == real[r.background].split
        rows = read_labels(tiny_work / "data" / "labels" / r.split / f"{r.name}.txt")
        if r.synthetic != "wall_crop":  # the class pasted on it is labelled (a clean crop has nothing pasted)
            assert any(row[0] == taxonomy.index(r.synthetic.removesuffix("_crop")) for row in rows)
        assert all(0 <= v <= 1 for row in rows for v in row[1:])
        height, width = cv2.imread(r.image).shape[:2]
        assert (r.width, r.height) == (width, height)
        if r.synthetic == "fly_poster_crop":  # a full-resolution part of its background, not a resize
            background = real[r.background]
            assert width < background.width and height < background.height
            assert width >= 480


def test_clean_wall_crops_show_real_walls_close_with_nothing_pasted(tiny_work):
    records = load_index(tiny_work)
    real = {r.name: r for r in records if not r.synthetic}
    crops = [r for r in records if r.synthetic == "wall_crop"]
    # one per real training frame large enough to crop without upscaling; none in validation
    wide = [r for r in real.values() if r.split == "train" and r.width * 0.4 >= 480]
    assert wide and sorted(r.background for r in crops) == sorted(r.name for r in wide)
    poster = load_taxonomy().index("fly_poster")
    for crop in crops:
        background = real[crop.background]
        # its labels settle what its background's do: a real facade's crop holds no fly-poster either
        assert (crop.complete, crop.negatives) == (background.complete, background.negatives)
        assert all(row[0] != poster for row in read_labels(label_file(tiny_work, crop)))
        image, whole = cv2.imread(crop.image), cv2.imread(background.original)
        assert 480 <= image.shape[1] < whole.shape[1]
        # a full-resolution part of the real frame: not a resize, nothing pasted on it
        assert cv2.matchTemplate(whole, image, cv2.TM_CCOEFF_NORMED).max() > 0.98


def test_more_poster_variants_add_training_scenes_and_leave_validation_as_it_was(tiny_work, tmp_path):
    from training.build import copy_dataset
    from training.cli import main
    from training.synth import synthesize

    more = copy_dataset(tiny_work, tmp_path / "variants")
    synthesize(more, seed=0, poster_share={"facades": 1.0, "street_vehicles": 1.0},
               garbage_share={"street_vehicles": 1.0, "facades": 1.0}, poster_variants=2, progress=False)

    def posters(work, split):
        return {Path(r.image).name: Path(r.image).read_bytes() for r in load_index(work)
                if r.split == split and r.synthetic == "fly_poster"}

    assert posters(more, "val") == posters(tiny_work, "val")  # the gate compares like with like
    one, two = posters(tiny_work, "train"), posters(more, "train")
    assert len(two) == 2 * len(one) and all(two[name] == image for name, image in one.items())
    extra = [name for name in two if name not in one]
    assert all(two[name] != one[name.replace("_v1__", "__")] for name in extra)  # other posters, other places
    assert main(["synth", "--work", str(more), "--poster-variants", "0"]) == 2  # refused before anything is removed
    assert posters(more, "train") == two

    # a model trained on the variants and evaluated on the first folder: its card names both
    from training.release import trained_on_fields

    described = trained_on_fields({"settings": {"work": str(more)}}, tiny_work)
    assert described["work"] == str(more) and described["synthetic"]["poster_variants"] == 2
    assert described["synthetic"]["counts"]["fly_poster"]["train_images"] == len(two)
    assert "subset_of" not in described  # a whole copy
    assert trained_on_fields({"settings": {"work": str(tiny_work)}}, tiny_work) is None
    assert trained_on_fields({"settings": {"work": str(tmp_path / "elsewhere")}}, tiny_work) is None  # not here
    # a share of the poster scenes (what a GPU pack holds): the card says the counts are the whole's
    share = copy_dataset(more, tmp_path / "share", keep=lambda r: r.synthetic != "fly_poster" or "_v1__" not in r.name)
    subset = trained_on_fields({"settings": {"work": str(share)}}, tiny_work)["subset_of"]
    assert subset == {"work": str(more), "images": len(load_index(more)), "kept": len(load_index(share))}
    assert len(posters(share, "train")) == len(one)


# --- pack: the training split for a machine without ../shared -----------------------------------------

def test_pack_copies_every_training_image_small_objects_keep_their_pixels(tiny_work, tmp_path, shared_dir):
    from training.pack import pack, packed_side
    from training.train import train

    out = tmp_path / "pack"
    result = pack(tiny_work, out, max_side=320, reduced_side=160, min_object_px=16, progress=False)
    sources = sorted((tiny_work / "data" / "images" / "train").iterdir())
    packed = sorted((out / "data" / "images" / "train").iterdir())
    assert [p.stem for p in packed] == [p.stem for p in sources] and result["images"] == len(sources)
    assert sum(result["images_per_side"].values()) == len(sources) and result["bytes"] > 0
    for source, copy in zip(sources, packed):
        assert copy.suffix == ".webp" and not copy.is_symlink()
        label = tiny_work / "data" / "labels" / "train" / f"{source.stem}.txt"
        if label.exists():  # labels are relative: they travel unchanged
            assert (out / "data" / "labels" / "train" / label.name).read_text() == label.read_text()
        height, width = cv2.imread(str(source)).shape[:2]
        h, w = cv2.imread(str(copy)).shape[:2]
        side = packed_side(label, width, height, 320, 160, 16)
        assert max(h, w) == min(side, max(width, height))
    # a box 2 % of the frame wide keeps the full side; one of half the frame goes down
    small, large = tmp_path / "small.txt", tmp_path / "large.txt"
    small.write_text("10 0.5 0.5 0.02 0.05\n")
    large.write_text("9 0.5 0.5 0.5 0.4\n")
    assert packed_side(small, 1280, 720, 640, 512, 16) == 640
    assert packed_side(large, 1280, 720, 640, 512, 16) == 512
    # its own index: repeat-factor sampling draws the same images there as here
    from training.train import oversampled_images

    def drawn(work):
        return Counter(Path(p).stem for p in oversampled_images(work, {}, rare_threshold=0.5))

    assert drawn(out) == drawn(tiny_work) and all(Path(p).exists() for p in oversampled_images(out, {}, 0.5))
    # the pack is all a training machine needs (no validation split there, the COCO weights given),
    # also with a repeat-sampled training list
    weights = train(out, tmp_path / "runs", "packed", epochs=1, imgsz=160, batch=8, workers=0, close_mosaic=0,
                    cache=False, verbose=False, coco_weights=shared_dir / "weights" / "yolov5n-coco.pt",
                    train_images=oversampled_images(out, {}, rare_threshold=0.5))
    record = json.loads((weights.parent.parent / "citypatrol_train.json").read_text())
    assert weights.exists() and record["epochs_done"] == 1 and record["settings"]["device"] == "cpu"


def test_oversampling_repeats_the_synthetic_kind_and_refuses_an_unknown_one(tiny_work, capsys):
    from training.cli import main
    from training.train import oversampled_images

    train = [r for r in load_index(tiny_work) if r.split == "train"]
    posters = [os.path.abspath(r.image) for r in train if r.synthetic == "fly_poster"]
    images = oversampled_images(tiny_work, {"fly_poster": 3})
    assert posters and len(images) == len(train) + 2 * len(posters)
    assert all(images.count(p) == 3 for p in posters)
    assert all(images.count(os.path.abspath(r.image)) == 1 for r in train if r.synthetic != "fly_poster")
    assert main(["train", "--work", str(tiny_work), "--oversample", "fly_posters=3"]) == 2
    assert "fly_posters" in capsys.readouterr().err
    for setting in ("--freeze", "--mosaic"):  # a fine-tune setting, no model to tune
        assert main(["train", "--work", str(tiny_work), setting, "0"]) == 2
        assert "--start" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # argparse: N must be a whole number >= 1
        main(["train", "--work", str(tiny_work), "--oversample", "fly_poster=0"])


def test_repeat_factor_sampling_shows_the_rarest_class_more_often(tiny_work, capsys):
    from training.cli import main
    from training.train import oversampled_images

    train = [r for r in load_index(tiny_work) if r.split == "train"]
    classes = {r.name: {row[0] for row in read_labels(label_file(tiny_work, r))} for r in train}
    images_with = Counter(c for held in classes.values() for c in held)
    rarest = min(images_with, key=images_with.get)
    threshold = 4 * images_with[rarest] / len(train)  # sqrt(4): the rarest class's images twice

    shown = Counter(oversampled_images(tiny_work, {}, rare_threshold=threshold))
    for record in train:
        times = shown[os.path.abspath(record.image)]
        if rarest in classes[record.name]:
            assert times == 2
        elif all(images_with[c] / len(train) >= threshold for c in classes[record.name]):
            assert times == 1  # common classes only, or none
    # with a synthetic kind's repeat too, an image takes the larger of the two
    shown = Counter(oversampled_images(tiny_work, {"fly_poster": 3}, rare_threshold=threshold))
    assert all(shown[os.path.abspath(r.image)] == 3 for r in train if r.synthetic == "fly_poster")
    assert main(["train", "--work", str(tiny_work), "--repeat-rare", "-0.1"]) == 2
    assert "--repeat-rare" in capsys.readouterr().err


def test_cli_fine_tunes_a_model_with_its_own_settings_on_oversampled_posters(tiny_weights, tiny_work, tmp_path):
    import yaml

    from training.cli import main

    assert main(["train", "--work", str(tiny_work), "--runs", str(tmp_path), "--name", "tuned", "--start",
                 str(tiny_weights), "--freeze", "0", "--lr0", "0.001", "--mosaic", "0", "--oversample", "fly_poster=2",
                 "--epochs", "1", "--imgsz", "160", "--batch", "8", "--workers", "0", "--close-mosaic", "0",
                 "--no-cache"]) == 0
    run = tmp_path / "tuned"
    settings = json.loads((run / "citypatrol_train.json").read_text())["settings"]
    train = [r for r in load_index(tiny_work) if r.split == "train"]
    posters = sum(r.synthetic == "fly_poster" for r in train)
    assert settings["start"] == str(tiny_weights) and settings["images"] == len(train) + posters
    assert settings["fine_tune"] == {"warmup_epochs": 0, "optimizer": "AdamW", "lr0": 0.001, "freeze": 0, "mosaic": 0}
    args = yaml.safe_load((run / "args.yaml").read_text())
    assert (args["freeze"], args["lr0"], args["optimizer"], args["mosaic"]) == (0, 0.001, "AdamW", 0)
    assert (run / "weights" / "last.pt").exists()


def test_hard_negatives_are_the_images_where_a_model_finds_what_their_labels_rule_out(tiny_weights, tiny_work,
                                                                                      tmp_path, capsys):
    from cv import Detector
    from cv.model_card import default_model_path
    from training.build import copy_dataset, write_labels
    from training.cli import main
    from training.hard_negatives import false_detections

    model, poster = default_model_path(), load_taxonomy().index("fly_poster")
    work = copy_dataset(tiny_work, tmp_path / "work")
    before = false_detections(model, work, classes=["fly_poster"], progress=False)
    # a poster frame on which the shipped model finds its posters, its poster labels taken away:
    # what the model finds there is now what the labels rule out
    detector = Detector(model)
    frames = [r for r in load_index(work) if r.split == "train" and r.synthetic == "fly_poster"]
    blanked = next(r for r in frames if (detector.detect(cv2.imread(r.image)).class_id == poster).any())
    rows = read_labels(label_file(work, blanked))
    write_labels(label_file(work, blanked), [row for row in rows if row[0] != poster])
    found = false_detections(model, work, classes=["fly_poster"], progress=False)
    assert found[blanked.name]["fly_poster"] > before.get(blanked.name, {}).get("fly_poster", 0)
    assert set(found) - {blanked.name} == set(before) - {blanked.name}
    # only a class an image's labels settle is called false there (garbage_bags photos label no posters)
    settled = {r.name: {*r.complete, *r.negatives} for r in load_index(work)}
    every_class = false_detections(model, work, progress=False)
    assert all(set(per_class) <= settled[name] for name, per_class in every_class.items())

    common = ["train", "--work", str(work), "--runs", str(tmp_path / "runs"), "--name", "hard", "--start",
              str(tiny_weights), "--hard-negatives", str(model), "--hard-classes", "fly_poster"]
    assert main([*common, "--hard-repeats", "3", "--epochs", "1", "--imgsz", "160", "--batch", "8", "--workers", "0",
                 "--close-mosaic", "0", "--no-cache"]) == 0
    settings = json.loads((tmp_path / "runs" / "hard" / "citypatrol_train.json").read_text())["settings"]
    train = [r for r in load_index(work) if r.split == "train"]
    assert settings["sampling"]["image_repeats"] == {name: 3 for name in found}
    assert settings["sampling"]["hard_negatives"]["images"] == len(found)
    assert settings["sampling"]["hard_negatives"]["false_detections"]["fly_poster"] == sum(
        n["fly_poster"] for n in found.values())
    assert settings["images"] == len(train) + 2 * len(found)
    assert main([*common, "--hard-repeats", "0"]) == 2 and "--hard-repeats" in capsys.readouterr().err
    assert main([*common[:-1], "poster"]) == 2 and "poster" in capsys.readouterr().err


# --- train / export / eval / gate ---------------------------------------------------------------------

def test_train_one_epoch_and_export_passes_parity(tiny_weights, tiny_onnx, tiny_work):
    from cv import Detector
    from training.evaluate import subset_images
    from training.export import parity_check

    assert tiny_weights.exists()
    record = json.loads((tiny_weights.parent.parent / "citypatrol_train.json").read_text())
    assert record["epochs_done"] == 1 and record["settings"]["imgsz"] == 160
    detector = Detector(tiny_onnx)
    assert detector.class_names == tuple(load_taxonomy().names)
    images = subset_images(load_index(tiny_work), "real")[:6]
    # a 1-epoch model scores everything near 0 (ultralytics starts class biases at ~1e-4):
    # compare at a very low confidence so that there are boxes to compare
    result = parity_check(tiny_onnx, images, imgsz=160, conf=0.0002)
    assert result["passed"], result["mismatches"]
    assert result["frames"] == len(images) and result["boxes_matched"] > 0


def test_eval_reports_per_class_ap_and_fly_poster_false_positives(tiny_onnx, tiny_work):
    from training.evaluate import evaluate

    result = evaluate(tiny_onnx, tiny_work, imgsz=160, subsets=("all", "fly_poster_synth"))
    all_ = result["subsets"]["all"]
    assert all_["images"] > 0 and "fly_poster" in all_["per_class"]
    for value in all_["per_class"].values():
        assert 0 <= value["ap50_95"] <= value["ap50"] <= 1
    fp = result["fly_poster_false_positives"]
    assert fp["images"] > 0 and fp["per_image"] >= 0
    points = result["fly_poster_operating_points"]  # a higher confidence finds and falsely finds no more
    assert [p["conf"] for p in points] == sorted(p["conf"] for p in points)
    for key in ("recall", "false_posters_per_facade"):
        assert all(0 <= b[key] <= a[key] for a, b in zip(points, points[1:]))
    assert points[0]["false_posters_per_facade"] == fp["per_image"]


def test_upscaled_second_look_tiles_the_frame(tiny_onnx, tiny_work):
    """bench/second_look_zoom.py's grids: N×N windows covering the frame once, each upscaled to the input."""
    from cv import Detector
    from training.evaluate import grid_windows, poster_look, runtime_stats, subset_images

    windows = grid_windows(3)
    assert len(windows) == 9 and sum((x1 - x0) * (y1 - y0) for x0, y0, x1, y1 in windows) == pytest.approx(1.0)
    assert {w[0] for w in windows} == {0, 1 / 3, 2 / 3} and max(w[3] for w in windows) == 1.0
    records = load_index(tiny_work)
    by_image = {os.path.abspath(r.image): r for r in records if r.split == "val"}
    paths = subset_images(records, "fly_poster_synth")
    looked, seconds = runtime_stats(Detector(tiny_onnx, conf=0.001), paths, by_image, tiny_work,
                                    second_look=True, crop_grid=3, progress=False)
    assert sorted(looked) == sorted(paths) and seconds > 0
    for true_positives, confidence, predicted, truth in looked.values():
        assert len(true_positives) == len(confidence) == len(predicted) and len(truth)
    look = poster_look(Detector(tiny_onnx, conf=0.001), paths, subset_images(records, "facades_real"), by_image,
                       tiny_work, second_look=True, crop_grid=3, progress=False)  # what the bench prints a row of
    assert 0 <= look["fly_poster_ap50"] <= 1 and look["ms_per_frame"] > 0
    assert [p["conf"] for p in look["operating_points"]] == sorted(p["conf"] for p in look["operating_points"])


def test_gate_refuses_a_class_worse_by_more_than_the_margin(tiny_onnx, tiny_work):
    from training.gate import compare, gate

    result, candidate, shipped = gate(tiny_onnx, tiny_onnx, tiny_work, imgsz=160, min_instances=1)
    assert result.passed and result.compared > 0  # the same model is never worse than itself
    better = json.loads(json.dumps(candidate))
    better["subsets"]["all"]["per_class"]["car"] = {"ap50": 0.9, "ap50_95": 0.6, "instances": 40}
    refused = compare(candidate, better, margin=0.05, shipped_name="better.onnx")
    assert not refused.passed and "all/car" in refused.worse
    assert refused.worse["all/car"]["shipped"] == 0.9
    within = json.loads(json.dumps(candidate))
    car = candidate["subsets"]["all"]["per_class"].get("car", {"ap50": 0.0})["ap50"]
    within["subsets"]["all"]["per_class"]["car"] = {"ap50": car + 0.04, "ap50_95": 0.0, "instances": 40}
    assert compare(candidate, within, margin=0.05).passed
    few = json.loads(json.dumps(better))
    few["subsets"]["all"]["per_class"]["car"]["instances"] = 4  # one box moves AP50 by 0.25: not judged
    unjudged = compare(candidate, few, margin=0.05)
    assert unjudged.passed and unjudged.too_few["all/car"] == 4 and "not judged" in unjudged.reason
    copies = json.loads(json.dumps(better))
    copies["subsets"]["all"]["per_class"]["car"]["distinct"] = 4  # 40 boxes of 4 cars, each on ten composites
    assert compare(candidate, copies, margin=0.05).too_few["all/car"] == 4
    assert compare(candidate, None).passed  # the first model has nothing to lose against
    # the runtime's evaluation counts each class once per real scene: never more than its boxes, and on
    # the real images alone (one scene each) exactly its boxes
    for subset, table in candidate["subsets"].items():
        for cls in table["per_class"].values():
            assert 0 < cls["distinct"] <= cls["instances"]
            assert subset != "real" or cls["distinct"] == cls["instances"]


def test_a_synthetic_copy_repeats_its_backgrounds_objects():
    from training.evaluate import _distinct_objects

    def boxes(*classes):  # evaluate's per-image stats: only the true classes matter here
        return (None, None, None, np.array(classes, np.int64))

    stats = {"street.jpg": boxes(5, 5, 3), "street+garbage.jpg": boxes(5, 5, 3, 9, 9), "other.jpg": boxes(5)}
    scenes = {"street.jpg": "street", "street+garbage.jpg": "street", "other.jpg": "other"}
    assert _distinct_objects(stats, list(stats), scenes) == {5: 3, 3: 1, 9: 2}
    assert _distinct_objects(stats, ["street+garbage.jpg", "other.jpg"], scenes) == {5: 3, 3: 1, 9: 2}


def test_cli_build_and_bad_input(tmp_path, shared_dir, capsys):
    from training.cli import main

    assert main(["build", "--work", str(tmp_path / "w"), "--limit", "1",
                 "--data-root", str(shared_dir / "datasets")]) == 0
    assert "facades" in capsys.readouterr().out
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "x.yaml").write_text("name: x\n")
    assert main(["build", "--work", str(tmp_path / "w2"), "--manifests", str(tmp_path / "m")]) == 2
    assert "x.yaml" in capsys.readouterr().err


def test_blend_averages_a_fine_tune_with_its_start_and_refuses_another_network(tiny_weights, tmp_path, capsys):
    import torch
    from ultralytics.nn.tasks import load_checkpoint

    from training.cli import main
    from training.export import save_checkpoint

    start_model, _ = load_checkpoint(str(tiny_weights))
    with torch.no_grad():  # a "fine-tune" one unit away from its start in every float parameter
        for value in start_model.state_dict().values():
            if value.is_floating_point():
                value += 1.0
    tuned = save_checkpoint(start_model, tmp_path / "ft" / "weights" / "last.pt")
    (tmp_path / "ft" / "citypatrol_train.json").write_text(json.dumps({"settings": {"lr0": 0.0005}}))

    assert main(["blend", str(tiny_weights), str(tuned), "--alpha", "0.25", "--runs", str(tmp_path)]) == 0
    blended, _ = load_checkpoint(str(tmp_path / "blend-0.25" / "weights" / "last.pt"))
    start, _ = load_checkpoint(str(tiny_weights))
    for key, value in blended.state_dict().items():
        if value.is_floating_point():
            assert torch.allclose(value, start.state_dict()[key] + 0.25, atol=1e-5), key
    record = json.loads((tmp_path / "blend-0.25" / "citypatrol_train.json").read_text())
    assert record["settings"] == {"lr0": 0.0005} and record["blend"]["alpha"] == 0.25
    assert "tuned_blend" not in record["blend"]
    # a soup (the fine-tune averaged with another run), then blended again: the card keeps the lineage
    (tmp_path / "ft2" / "weights").mkdir(parents=True)
    shutil.copyfile(tuned, tmp_path / "ft2" / "weights" / "last.pt")
    (tmp_path / "ft2" / "citypatrol_train.json").write_text(json.dumps({"settings": {"lr0": 0.001}}))
    assert main(["blend", str(tuned), str(tmp_path / "ft2" / "weights" / "last.pt"), "--alpha", "0.5",
                 "--runs", str(tmp_path), "--name", "soup"]) == 0
    assert main(["blend", str(tiny_weights), str(tmp_path / "soup" / "weights" / "last.pt"), "--alpha", "0.5",
                 "--runs", str(tmp_path), "--name", "soup-blend"]) == 0
    lineage = json.loads((tmp_path / "soup-blend" / "citypatrol_train.json").read_text())["blend"]
    assert lineage["start"] == str(tiny_weights) and lineage["tuned_blend"]["alpha"] == 0.5
    assert lineage["tuned_blend"]["start_run"]["settings"] == {"lr0": 0.0005}

    start_model.names = {**start_model.names, 0: "pedestrian"}  # other classes: not the same model
    other = save_checkpoint(start_model, tmp_path / "other" / "weights" / "last.pt")
    assert main(["blend", str(tiny_weights), str(other), "--alpha", "0.5", "--runs", str(tmp_path)]) == 2
    assert "different classes" in capsys.readouterr().err
    assert main(["blend", str(tiny_weights), str(tuned), "--alpha", "1.5", "--runs", str(tmp_path)]) == 2
    assert not (tmp_path / "blend-1.5").exists() and not (tmp_path / "blend-0.5").exists()
