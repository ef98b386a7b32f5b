"""Synthetic fly-posters and garbage copy-paste on real images from ../shared (fast: a handful of images).

Set CITYPATROL_SYNTH_PREVIEW=1 to also write contact sheets under var/synth-preview/ (or run
`python -m training.synth_preview` for larger ones).
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from training.copy_paste import GarbageCutout, _polygons, is_street_level, load_cutouts, paste_garbage
from training.synth_posters import add_posters, find_cjk_font, render_poster
from training.synth_preview import facade_boxes, read_yolo_boxes

N_FACADES = 5


@pytest.fixture(scope="module")
def font() -> Path:
    return find_cjk_font()


@pytest.fixture(scope="module")
def facades(shared_dir) -> list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """Facade images that have shop signs, with (avoid, hints, doors) boxes."""
    root = shared_dir / "datasets" / "facades"
    out = []
    for path in sorted((root / "images").glob("*.jpg")):
        img = cv2.imread(str(path))
        h, w = img.shape[:2]
        avoid, hints, doors = facade_boxes(root / "labels" / f"{path.stem}.txt", w, h)
        if len(avoid) >= 2 and len(hints) >= 2:
            out.append((img, avoid, hints, doors))
        if len(out) == N_FACADES:
            break
    assert len(out) == N_FACADES
    return out


@pytest.fixture(scope="module")
def garbage_names(shared_dir) -> list[str]:
    names = sorted(p.name for p in (shared_dir / "datasets" / "garbage_bags" / "images").glob("*.jpg"))
    return names[:12]


@pytest.fixture(scope="module")
def cutouts(shared_dir, garbage_names) -> list[GarbageCutout]:
    return load_cutouts(shared_dir / "datasets" / "garbage_bags", garbage_names)


@pytest.fixture(scope="module")
def streets(shared_dir) -> list[tuple[np.ndarray, np.ndarray]]:
    root = shared_dir / "datasets" / "street_vehicles"
    out = []
    for path in sorted((root / "images").glob("*.jpg"))[:4]:
        img = cv2.imread(str(path))
        _, boxes = read_yolo_boxes(root / "labels" / f"{path.stem}.txt", img.shape[1], img.shape[0])
        out.append((img, boxes))
    return out


def _inside(boxes: np.ndarray, shape) -> bool:
    h, w = shape[:2]
    return bool(((boxes[:, 0] >= 0) & (boxes[:, 1] >= 0) & (boxes[:, 2] <= w) & (boxes[:, 3] <= h)
                 & (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])).all())


def _changed_outside(before: np.ndarray, after: np.ndarray, boxes: np.ndarray, margin: int) -> float:
    """Share of pixels outside the (grown) boxes that changed by more than a rounding error."""
    changed = (np.abs(before.astype(np.int16) - after.astype(np.int16)).max(axis=2) > 2)
    outside = np.ones(changed.shape, bool)
    for b in boxes:
        x0, y0 = max(0, int(b[0]) - margin), max(0, int(b[1]) - margin)
        x1, y1 = int(np.ceil(b[2])) + margin, int(np.ceil(b[3])) + margin
        outside[y0:y1, x0:x1] = False
    return float(changed[outside].mean())


# ---------------------------------------------------------------------------------------------- posters

def test_cjk_font_is_found_and_has_the_glyphs(font):
    from PIL import ImageFont

    assert font.is_file() and font.suffix.lower() in (".ttc", ".ttf", ".otf")
    f = ImageFont.truetype(str(font), 32)
    masks = [np.asarray(f.getmask(ch), np.uint8) for ch in "办证开锁"]
    assert all(m.any() for m in masks)
    # a font without CJK glyphs draws the same "missing glyph" box for every character
    assert len({m.tobytes() for m in masks}) == 4


@pytest.mark.parametrize("seed", range(6))
def test_render_poster_makes_a_printed_sheet(font, seed):
    rgba = render_poster(np.random.default_rng(seed), font, 120)
    assert rgba.dtype == np.uint8 and rgba.ndim == 3 and rgba.shape[2] == 4 and rgba.shape[0] == 120
    assert rgba.shape[1] >= 10
    alpha = rgba[..., 3]
    assert alpha.max() > 150
    if (alpha > 128).mean() > 0.8:    # a sheet or sticker: text drawn on paper
        assert rgba[..., :3][alpha > 128].astype(np.float32).std() > 8, "no text drawn"
    else:                             # a sprayed number: the paint's alpha is the text
        assert 0.03 < (alpha > 60).mean() < 0.7


def test_add_posters_boxes_inside_and_never_over_shop_signs(facades, font):
    total = 0
    for i, (img, avoid, hints, doors) in enumerate(facades):
        for seed in range(3):
            rng = np.random.default_rng([i, seed])
            new, boxes = add_posters(img, avoid, rng, font, hint_boxes=hints, max_posters=4, door_boxes=doors)
            assert new.shape == img.shape and new.dtype == np.uint8
            assert boxes.dtype == np.float32 and boxes.ndim == 2 and boxes.shape[1] == 4
            assert _inside(boxes, img.shape)
            total += len(boxes)
            for b in boxes:
                inter_w = np.clip(np.minimum(b[2], avoid[:, 2]) - np.maximum(b[0], avoid[:, 0]), 0, None)
                inter_h = np.clip(np.minimum(b[3], avoid[:, 3]) - np.maximum(b[1], avoid[:, 1]), 0, None)
                assert (inter_w * inter_h).max(initial=0) <= 0.02 * (b[2] - b[0]) * (b[3] - b[1]) + 1
            # the frame outside the posters is untouched (soft edges and JPEG blocks right at the box aside)
            assert _changed_outside(img, new, boxes, margin=4) < 0.002
    assert total >= 15


def test_posters_are_at_street_scale(facades, font):
    widths = []
    for i, (img, avoid, hints, doors) in enumerate(facades):
        for seed in range(4):
            _, boxes = add_posters(img, avoid, np.random.default_rng([7, i, seed]), font, hint_boxes=hints,
                                   door_boxes=doors)
            widths += list((boxes[:, 2] - boxes[:, 0]) / img.shape[1])
    widths = np.array(widths)
    # across a street an A4 sheet is 1-3 % of the frame width, a sticker under 1 %; some are closer
    assert 0.005 < np.median(widths) < 0.04
    assert widths.max() < 0.5


def test_add_posters_is_deterministic(facades, font):
    img, avoid, hints, doors = facades[0]
    a = add_posters(img, avoid, np.random.default_rng(3), font, hint_boxes=hints, door_boxes=doors)
    b = add_posters(img, avoid, np.random.default_rng(3), font, hint_boxes=hints, door_boxes=doors)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])


def test_add_posters_without_hints_or_room(font, streets):
    img, boxes0 = streets[0]
    new, boxes = add_posters(img, boxes0, np.random.default_rng(0), font)
    assert _inside(boxes, img.shape)
    # a frame entirely covered by avoid boxes gets no poster and stays as it was
    h, w = img.shape[:2]
    new, boxes = add_posters(img, np.array([[0, 0, w, h]], np.float32), np.random.default_rng(0), font)
    assert len(boxes) == 0 and np.array_equal(new, img)


# ---------------------------------------------------------------------------------------------- garbage

def test_cutouts_come_from_the_polygon_masks(shared_dir, garbage_names, cutouts):
    assert len(cutouts) >= 5
    root = shared_dir / "datasets" / "garbage_bags"
    for c in cutouts:
        assert c.rgba.dtype == np.uint8 and c.rgba.shape[2] == 4
        assert c.source in garbage_names
        alpha = c.rgba[..., 3]
        # the tight crop has opaque polygon inside, transparent outside: some of each, touching every edge
        assert (alpha > 127).mean() > 0.3 and (alpha < 20).any()
        assert alpha[0].max() > 0 and alpha[-1].max() > 0 and alpha[:, 0].max() > 0 and alpha[:, -1].max() > 0
    # the opaque area of a full-size cut-out equals its polygon's area
    name = cutouts[0].source
    polys = _polygons(root / "labels" / f"{Path(name).stem}.txt")
    areas = []
    for _, rel in polys:
        pts = rel * 640
        areas.append(0.5 * abs(np.dot(pts[:, 0], np.roll(pts[:, 1], 1)) - np.dot(pts[:, 1], np.roll(pts[:, 0], 1))))
    for c in (c for c in cutouts if c.source == name and max(c.rgba.shape[:2]) < 192):
        opaque = (c.rgba[..., 3] > 127).sum()
        assert min(abs(opaque - a) / a for a in areas) < 0.05


def test_paste_garbage_puts_bags_on_the_ground(streets, cutouts):
    total = 0
    for i, (img, avoid) in enumerate(streets):
        for seed in range(3):
            new, boxes = paste_garbage(img, cutouts, avoid, np.random.default_rng([i, seed]), max_items=3)
            assert new.shape == img.shape and new.dtype == np.uint8
            assert boxes.dtype == np.float32 and boxes.shape[1:] == (4,)
            assert _inside(boxes, img.shape)
            h, w = img.shape[:2]
            # bags stand in the lower half (a bag half hidden behind its heap-mate may end a little higher)
            assert (boxes[:, 3] > 0.45 * h).all(), "garbage must stand on the ground (lower part of the frame)"
            widths = (boxes[:, 2] - boxes[:, 0]) / w
            assert (widths < 0.3).all()
            for b in boxes:
                inter_w = np.clip(np.minimum(b[2], avoid[:, 2]) - np.maximum(b[0], avoid[:, 0]), 0, None)
                inter_h = np.clip(np.minimum(b[3], avoid[:, 3]) - np.maximum(b[1], avoid[:, 1]), 0, None)
                assert (inter_w * inter_h).max(initial=0) <= 0.02 * (b[2] - b[0]) * (b[3] - b[1]) + 1
            # only the bags and their contact shadows change the frame
            assert _changed_outside(img, new, boxes, margin=max(6, int(0.02 * w))) < 0.01
            total += len(boxes)
    assert total >= 8


def test_pasted_objects_carry_the_frames_speckle(streets, cutouts, font):
    """street_vehicles frames are sprinkled with salt-and-pepper by their export: so must pasted objects be."""
    from training.copy_paste import speckle_density

    img = max((s[0] for s in streets), key=speckle_density)
    background = speckle_density(img)
    assert background > 0.001
    inside = []
    for seed in range(4):
        new, boxes = paste_garbage(img, cutouts, np.zeros((0, 4)), np.random.default_rng(seed), max_items=3)
        for b in boxes.astype(int):
            if (b[2] - b[0]) * (b[3] - b[1]) >= 400:
                inside.append(speckle_density(new[b[1]:b[3], b[0]:b[2]]))
    assert inside and np.mean(inside) > 0.3 * background


def test_paste_garbage_is_deterministic(streets, cutouts):
    img, avoid = streets[1]
    a = paste_garbage(img, cutouts, avoid, np.random.default_rng(5))
    b = paste_garbage(img, cutouts, avoid, np.random.default_rng(5))
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])


def test_paste_garbage_with_facade_hints_uses_the_ground_line(facades, cutouts):
    img, avoid, hints, doors = facades[1]
    ground = doors[:, 3].max() if len(doors) else hints[:, 3][hints[:, 3] > 0.5 * img.shape[0]].max()
    for seed in range(3):
        _, boxes = paste_garbage(img, cutouts, avoid, np.random.default_rng(seed), hint_boxes=hints,
                                 door_boxes=doors)
        assert (boxes[:, 3] >= ground - 1).all()


def test_street_level_selector_picks_a_minority(shared_dir):
    labels = sorted((shared_dir / "datasets" / "garbage_bags" / "labels").glob("*.txt"))
    sample = labels[::16]
    picked = [is_street_level(p) for p in sample]
    share = np.mean(picked)
    assert 0.03 < share < 0.35, share


@pytest.mark.parametrize("stem, street", [
    ("0673126307f56b6d", True),    # phone photo: bags put out on the pavement by a wall
    ("075c1a1f2b5aa54e", True),    # phone photo: blue bags heaped by a kerb
    ("000d27b8b7f3eec5", False),   # CCTV frame looking down into a container
    ("009e73c2815674bb", False),   # CCTV frame looking down into a container
])
def test_street_level_selector_on_known_photos(shared_dir, stem, street):
    assert is_street_level(shared_dir / "datasets" / "garbage_bags" / "labels" / f"{stem}.txt") is street


def test_posters_on_street_frames_stay_off_the_road(shared_dir, font):
    from training.copy_paste import ground_mask_of

    root = shared_dir / "datasets" / "street_vehicles"
    on_ground = total = 0
    for i, path in enumerate(sorted((root / "images").glob("*.jpg"))[:8]):
        img = cv2.imread(str(path))
        _, avoid = read_yolo_boxes(root / "labels" / f"{path.stem}.txt", img.shape[1], img.shape[0])
        _, boxes = add_posters(img, avoid, np.random.default_rng(i), font)
        ground = ground_mask_of(img)
        for b in boxes.astype(int):
            total += 1
            on_ground += ground[b[1]:b[3], b[0]:b[2]].mean() > 0.5
    assert on_ground <= max(1, total // 5)


@pytest.mark.skipif(not os.environ.get("CITYPATROL_SYNTH_PREVIEW"), reason="set CITYPATROL_SYNTH_PREVIEW=1")
def test_write_preview(shared_dir, repo_dir, tmp_path):
    from training.synth_preview import preview_garbage, preview_posters

    out = repo_dir / "var" / "synth-preview"
    preview_posters(shared_dir / "datasets", out, 4, 0)
    preview_garbage(shared_dir / "datasets", out, 4, 0)
    assert (out / "posters.png").exists() and (out / "garbage.png").exists()
