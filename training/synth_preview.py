"""Contact sheets of synthetic fly-posters and pasted street garbage, for looking at them.

    python -m training.synth_preview [--data ../shared/datasets] [--out var/synth-preview] [--n 6] [--seed 0]

Writes posters.png / garbage.png (whole frames, boxes drawn), *_crops.png (each object enlarged),
*_1to1.png (full-resolution windows around an object, no boxes: judge realism here) and
posters_rendered.png (the aged sheets themselves). Small on purpose: it runs on a shared 2-core box.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

FACADE_AVOID = (1, 3, 4)     # cantilever (projecting sign), signboard, win_ad
FACADE_HINTS = (0, 5)        # window, door
FACADE_DOOR = 5


def read_yolo_boxes(label_path: Path, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """(class ids, xyxy pixel boxes) from a YOLO box or polygon label file."""
    classes, boxes = [], []
    if label_path.exists():
        for line in label_path.read_text().splitlines():
            parts = line.split()
            if len(parts) < 5:
                continue
            values = np.array(parts[1:], np.float64)
            if len(values) == 4:
                x, y, w, h = values
                box = [(x - w / 2) * width, (y - h / 2) * height, (x + w / 2) * width, (y + h / 2) * height]
            else:
                pts = values[: len(values) // 2 * 2].reshape(-1, 2) * [width, height]
                box = [*pts.min(0), *pts.max(0)]
            classes.append(int(parts[0]))
            boxes.append(box)
    return np.array(classes, np.int64), np.array(boxes, np.float64).reshape(-1, 4)


def facade_boxes(label_path: Path, width: int, height: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(avoid, hints, doors) boxes of a facade image."""
    cls, boxes = read_yolo_boxes(label_path, width, height)
    return (boxes[np.isin(cls, FACADE_AVOID)], boxes[np.isin(cls, FACADE_HINTS)], boxes[cls == FACADE_DOOR])


def _tile(img: np.ndarray, size: int) -> np.ndarray:
    h, w = img.shape[:2]
    s = size / max(h, w)
    small = cv2.resize(img, (max(1, int(w * s)), max(1, int(h * s))), interpolation=cv2.INTER_AREA if s < 1 else
                       cv2.INTER_NEAREST)
    canvas = np.full((size, size, 3), 40, np.uint8)
    canvas[: small.shape[0], : small.shape[1]] = small
    return canvas


def _crop_1to1(image: np.ndarray, boxes: np.ndarray, w: int, h: int) -> np.ndarray:
    """A w×h window of the image at full resolution around its widest box (what a person would see)."""
    H, W = image.shape[:2]
    b = boxes[int(np.argmax(boxes[:, 2] - boxes[:, 0]))]
    cx, cy = int((b[0] + b[2]) / 2), int((b[1] + b[3]) / 2)
    x0, y0 = max(0, min(W - w, cx - w // 2)), max(0, min(H - h, cy - h // 2))
    crop = image[y0:y0 + h, x0:x0 + w]
    return cv2.copyMakeBorder(crop, 0, h - crop.shape[0], 0, w - crop.shape[1], cv2.BORDER_CONSTANT, value=(40, 40, 40))


def _sheet(tiles: list[np.ndarray], cols: int) -> np.ndarray:
    h, w = tiles[0].shape[:2]
    tiles = list(tiles)
    while len(tiles) % cols:
        tiles.append(np.full((h, w, 3), 40, np.uint8))
    return np.vstack([np.hstack(tiles[i:i + cols]) for i in range(0, len(tiles), cols)])


def _preview(data: Path, out: Path, name: str, scenes: list[Path], synthesize, show_avoid: bool,
             crop_margin: float, one_to_one: tuple[int, int, int]) -> None:
    """Contact sheets of `synthesize(image, avoid, hints, doors) -> (image, boxes)` on `scenes`:
    whole frames with boxes, close-ups, and full-resolution windows (where realism is judged)."""
    frames, crops, windows = [], [], []
    for path in scenes:
        img = cv2.imread(str(path))
        h, w = img.shape[:2]
        label = path.parent.parent / "labels" / f"{path.stem}.txt"
        if "facades" in str(path):
            avoid, hints, doors = facade_boxes(label, w, h)
        else:
            avoid, hints, doors = read_yolo_boxes(label, w, h)[1], None, None
        new, boxes = synthesize(img, avoid, hints, doors)
        shown = new.copy()
        for b in (avoid.astype(int) if show_avoid else ()):
            cv2.rectangle(shown, tuple(b[:2]), tuple(b[2:]), (0, 200, 255), 1)
        for b in boxes.astype(int):
            cv2.rectangle(shown, (b[0] - 2, b[1] - 2), (b[2] + 2, b[3] + 2), (0, 0, 255), 2)
        frames.append(_tile(shown, 640))
        if len(boxes):
            windows.append(_crop_1to1(new, boxes, one_to_one[0], one_to_one[1]))
        for b in boxes:
            m = max(b[2] - b[0], b[3] - b[1]) * crop_margin + 12
            cx, cy = (b[0] + b[2]) / 2, (b[1] + b[3]) / 2
            crops.append(_tile(new[int(max(0, cy - m)):int(min(h, cy + m)), int(max(0, cx - m)):int(min(w, cx + m))],
                               200))
    out.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(out / f"{name}.png"), _sheet(frames, 2))
    if crops:
        cv2.imwrite(str(out / f"{name}_crops.png"), _sheet(crops[:48], 8))
    if windows:
        cv2.imwrite(str(out / f"{name}_1to1.png"), _sheet(windows[: one_to_one[2]], 4))


def _scenes(data: Path, rng: np.random.Generator, facades: int, streets: int) -> list[Path]:
    facade_images = sorted((data / "facades" / "images").glob("*.jpg"))
    street_images = sorted((data / "street_vehicles" / "images").glob("*.jpg"))
    return [facade_images[i] for i in rng.choice(len(facade_images), facades, replace=False)] + \
        [street_images[i] for i in rng.choice(len(street_images), streets, replace=False)]


def preview_posters(data: Path, out: Path, n: int, seed: int) -> None:
    from training.synth_posters import add_posters, find_cjk_font

    font = find_cjk_font()
    rng = np.random.default_rng(seed)
    _preview(data, out, "posters", _scenes(data, rng, n - n // 3, n // 3),
             lambda img, avoid, hints, doors: add_posters(img, avoid, rng, font, hint_boxes=hints, max_posters=4,
                                                          door_boxes=doors),
             show_avoid=True, crop_margin=1.5, one_to_one=(400, 300, 8))
    # the rendered sheets themselves, clean and aged, on a neutral wall colour
    from training.synth_posters import _age, _render

    rendered = []
    for i in range(16):
        r = np.random.default_rng([seed, i])
        aged = _age(_render(r, font, 200), r)
        h, w = aged.shape[:2]
        s = 200 / max(h, w)
        aged = cv2.resize(aged, (max(1, int(w * s)), max(1, int(h * s))), interpolation=cv2.INTER_AREA)
        tile = np.full((210, 210, 3), (120, 110, 90), np.float32)
        a = aged[..., 3:4].astype(np.float32) / 255
        tile[: aged.shape[0], : aged.shape[1]] = tile[: aged.shape[0], : aged.shape[1]] * (1 - a) + \
            aged[..., 2::-1].astype(np.float32) * a
        rendered.append(tile.astype(np.uint8))
    cv2.imwrite(str(out / "posters_rendered.png"), _sheet(rendered, 8))


def preview_garbage(data: Path, out: Path, n: int, seed: int) -> None:
    from training.copy_paste import load_cutouts, paste_garbage

    rng = np.random.default_rng(seed)
    gnames = sorted(p.name for p in (data / "garbage_bags" / "images").glob("*.jpg"))
    cutouts = load_cutouts(data / "garbage_bags", [gnames[i] for i in rng.choice(len(gnames), 40, replace=False)])
    _preview(data, out, "garbage", _scenes(data, rng, n // 2, n - n // 2),
             lambda img, avoid, hints, doors: paste_garbage(img, cutouts, avoid, rng, max_items=3, hint_boxes=hints,
                                                            door_boxes=doors),
             show_avoid=False, crop_margin=1.2, one_to_one=(300, 225, 12))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path("../shared/datasets"))
    ap.add_argument("--out", type=Path, default=Path("var/synth-preview"))
    ap.add_argument("--n", type=int, default=6)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--only", choices=("posters", "garbage"), default=None)
    args = ap.parse_args(argv)
    if args.only in (None, "posters"):
        preview_posters(args.data, args.out, args.n, args.seed)
    if args.only in (None, "garbage"):
        preview_garbage(args.data, args.out, args.n, args.seed)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
