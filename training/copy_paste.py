"""Street garbage by copy-paste: garbage bags cut out of the garbage_bags photos with their exact
polygon masks and pasted onto the pavements, kerbs, corners and wall bases of street and facade images.

Why: the garbage_bags photos are mostly CCTV views looking down into open containers (and close-ups);
a model trained on them as they are finds bags in containers but almost nothing on a street seen from
a pole (DESIGN.md, "The model"). Pasting the same bags where a street camera sees them teaches that.

How a pasted bag is made to sit on the ground:
- Where: its bottom (the contact point) stands on the ground: pavement and road found by a colour
  flood fill from the bottom edge of the frame (`ground_mask_of`), in the lower half of the frame and,
  on facades, below the ground line that doors and windows give (`door_boxes`, `hint_boxes`); never
  over labelled objects (`avoid_boxes`), never on sky. No ground in sight: no garbage.
- Size: on facades, 0.35–0.9 m (×1–1.6 for standing nearer than the wall) at the scale the doors and
  windows give; on street frames, 2–9 % of the frame width at a street camera's distance, larger
  lower in the frame (nearer), with a share of close ones (×1.3–2). Never over 18 % of the width.
- Angle: the top-down cut-outs are turned (any multiple of 90°, plus a little), flipped and squashed
  vertically (a camera on a pole sees the ground at 25–60°).
- Look: colour variants (black, white/translucent, blue, green, natural) since the source's colours
  are shifted by its export; brightness and colour cast matched to the ground around; lower contrast
  with distance; blur and noise like the background; feathered mask edges; a soft contact shadow.
- Heaps: sometimes 2–5 bags at one spot, overlapping, the nearer drawn last.

Boxes bound what stays visible; a bag mostly hidden by the others of its heap is merged into the box
of the one that hides it. All randomness comes from the caller's `numpy.random.Generator`.

`is_street_level` picks the street-level minority of garbage_bags (the `garbage_street` validation
subset): see its docstring for the heuristic.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from cv.geometry import box_area

MAX_SIDE = 192          # cut-outs are stored at most this size: street bags are rarely larger
MIN_SIDE = 28           # polygons smaller than this in the 640 px source are skipped
MAX_PER_IMAGE = 4


@dataclass
class GarbageCutout:
    rgba: np.ndarray            # tight crop, BGR + alpha (uint8) from the polygon mask
    source: str = ""            # image name it was cut from
    top_down: bool = True       # cut from a top-down (container) view rather than a street-level one


# ----------------------------------------------------------------------------------------------
# Reading the source
# ----------------------------------------------------------------------------------------------

def _polygons(label_path: Path) -> list[tuple[int, np.ndarray]]:
    """(class, (k, 2) relative points) for each polygon line of a YOLO segmentation label file."""
    out = []
    if not label_path.exists():
        return out
    for line in label_path.read_text().splitlines():
        parts = line.split()
        if len(parts) < 7:
            continue
        pts = np.array(parts[1:], np.float64)
        pts = pts[: len(pts) // 2 * 2].reshape(-1, 2)
        out.append((int(parts[0]), pts))
    return out


def _content_mask(image: np.ndarray) -> np.ndarray:
    """Pixels that are photo, not the export's white letterbox or the black fill of its shear."""
    hsv = cv2.cvtColor(image, cv2.COLOR_BGR2HSV)
    white = (hsv[..., 2] > 235) & (hsv[..., 1] < 18)
    black = hsv[..., 2] < 8
    return ~(white | black)


def content_aspect(image: np.ndarray) -> float:
    """Height / width of the photo inside the export's letterbox (rows/columns mostly photo)."""
    small = cv2.resize(image, (160, 160), interpolation=cv2.INTER_AREA)
    content = _content_mask(small)
    rows = (content.mean(1) > 0.35).sum()
    cols = (content.mean(0) > 0.35).sum()
    return float(rows) / max(float(cols), 1.0)


def is_street_level(label_path: Path, image_path: Path | None = None) -> bool:
    """True for the street-level minority of garbage_bags: bags put out on pavements and by walls.

    Heuristic: the top-down container views come from landscape CCTV frames (16:9, so the photo inside
    the 640×640 letterbox is wider than tall, or 1.78 tall when the export rotated it by 90°), while
    the street-level ones are portrait phone photos (3:4, content aspect ≈ 1.33). So: photo
    height/width in [1.15, 1.55], and at least one polygon. On the whole folder it picks 131 of 983;
    checked by eye on a contact sheet of them, about nine in ten are phone photos of bags put out
    on pavements, by walls and poles; the rest are portrait close-ups of single bags.
    `image_path` defaults to ../images/<stem>.jpg beside the label folder.
    """
    label_path = Path(label_path)
    if not _polygons(label_path):
        return False
    if image_path is None:
        image_path = label_path.parent.parent / "images" / f"{label_path.stem}.jpg"
    image = cv2.imread(str(image_path), cv2.IMREAD_COLOR)
    if image is None:
        raise FileNotFoundError(f"image for {label_path} not found at {image_path}")
    return 1.15 <= content_aspect(image) <= 1.55


def load_cutouts(garbage_dir: Path, image_names: list[str]) -> list[GarbageCutout]:
    """Cut every usable bag out of the named garbage_bags images (training images only).

    A polygon is skipped when it is small (< MIN_SIDE px), runs into the letterbox or the frame edge
    (a truncated bag would paste with a straight cut), or is mostly letterbox. Cut-outs are stored
    at most MAX_SIDE px, at most MAX_PER_IMAGE (the largest) per image.
    """
    garbage_dir = Path(garbage_dir)
    cutouts: list[GarbageCutout] = []
    for name in image_names:
        image_path = garbage_dir / "images" / name
        polys = _polygons(garbage_dir / "labels" / f"{Path(name).stem}.txt")
        if not polys:
            continue
        image = cv2.imread(str(image_path), cv2.IMREAD_COLOR)
        if image is None:
            raise FileNotFoundError(f"garbage image not found: {image_path}")
        h, w = image.shape[:2]
        content = _content_mask(image)
        street = 1.15 <= content_aspect(image) <= 1.55
        candidates = []
        for _cls, rel in polys:
            pts = rel * [w, h]
            x0, y0 = np.floor(pts.min(0)).astype(int)
            x1, y1 = np.ceil(pts.max(0)).astype(int) + 1
            x0, y0, x1, y1 = max(0, x0), max(0, y0), min(w, x1), min(h, y1)
            if x1 - x0 < MIN_SIDE or y1 - y0 < MIN_SIDE:
                continue
            if x0 <= 1 or y0 <= 1 or x1 >= w - 1 or y1 >= h - 1:
                continue
            mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
            cv2.fillPoly(mask, [np.round(pts - [x0, y0]).astype(np.int32)], 255, lineType=cv2.LINE_AA)
            area = int((mask > 127).sum())
            if area < MIN_SIDE * MIN_SIDE * 0.5:
                continue
            inside = mask > 127
            if content[y0:y1, x0:x1][inside].mean() < 0.9:
                continue
            ring = cv2.dilate(mask, np.ones((7, 7), np.uint8)) > 127
            ring &= ~inside
            ring_full = np.zeros((h, w), bool)
            ring_full[y0:y1, x0:x1] = ring
            if ring.any() and (~content[ring_full]).mean() > 0.15:
                continue                                   # cut by the letterbox
            candidates.append((area, x0, y0, x1, y1, mask))
        candidates.sort(key=lambda c: -c[0])
        for _, x0, y0, x1, y1, mask in candidates[:MAX_PER_IMAGE]:
            rgba = np.dstack([image[y0:y1, x0:x1], mask])
            s = MAX_SIDE / max(rgba.shape[:2])
            if s < 1:
                rgba = cv2.resize(rgba, (max(1, int(rgba.shape[1] * s)), max(1, int(rgba.shape[0] * s))),
                                  interpolation=cv2.INTER_AREA)
            cutouts.append(GarbageCutout(np.ascontiguousarray(rgba), name, not street))
    return cutouts


# ----------------------------------------------------------------------------------------------
# Pasting
# ----------------------------------------------------------------------------------------------

def _recolour(bgr: np.ndarray, mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Bag colour variants: black, white/translucent, blue/green/other hues, or as shot but tamer."""
    img = bgr.astype(np.float32)
    gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY).astype(np.float32)
    inside = mask > 127
    mean = float(gray[inside].mean()) if inside.any() else float(gray.mean())
    r = rng.random()
    if r < 0.3:                                   # black bin bag: dark, glossy highlights kept
        target = rng.uniform(25, 60)
        g = (gray - mean) * rng.uniform(0.5, 0.9) + target
        img = np.repeat(g[..., None], 3, axis=2) + rng.normal(0, 2, 3).astype(np.float32)
    elif r < 0.5:                                 # white / translucent bag
        target = rng.uniform(170, 225)
        g = (gray - mean) * rng.uniform(0.6, 1.0) + target
        sat = rng.uniform(0.0, 0.3)
        img = np.repeat(g[..., None], 3, axis=2) * (1 - sat) + img * sat * target / max(mean, 1)
    else:
        hsv = cv2.cvtColor(bgr, cv2.COLOR_BGR2HSV).astype(np.float32)
        if r < 0.8:                               # a common bag colour: blue, green, red, yellow, grey
            inside_h = hsv[..., 0][inside] if inside.any() else hsv[..., 0].ravel()
            current = float(np.median(inside_h))
            target = float(rng.choice([108.0, 100.0, 60.0, 75.0, 2.0, 25.0, 15.0])) + rng.normal(0, 4)
            hsv[..., 0] = (hsv[..., 0] + (target - current)) % 180
        hsv[..., 1] *= rng.uniform(0.35, 0.9)     # the source's colours are over-saturated
        hsv = np.clip(hsv, 0, [179, 255, 255])
        img = cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2BGR).astype(np.float32)
    return np.clip(img, 0, 255)


def _transform(cutout: np.ndarray, rng: np.random.Generator, target_w: float, top_down: bool) -> np.ndarray:
    """Rotate/flip/squash a cut-out and resize its largest extent to target_w px. Returns float32 BGRA
    (alpha 0..1)."""
    if top_down:
        # a bag lying on the ground is seen wider than tall: turn long cut-outs on their side,
        # only a few roundish ones stand upright
        h0, w0 = cutout.shape[:2]
        k = int(rng.integers(0, 4))
        if (h0 > w0) == (k % 2 == 0) and max(h0, w0) > 1.25 * min(h0, w0) and rng.random() < 0.85:
            k += 1
        rgba = np.rot90(cutout, k)
    else:
        rgba = cutout
    if rng.random() < 0.5:
        rgba = rgba[:, ::-1]
    rgba = np.ascontiguousarray(rgba)
    h, w = rgba.shape[:2]
    angle = rng.uniform(-20, 20) if top_down else rng.uniform(-6, 6)
    squash = rng.uniform(0.55, 0.95) if top_down else rng.uniform(0.9, 1.05)
    # bound the rotated, squashed shape and fit it to target_w
    rot = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    corners = np.array([[0, 0, 1], [w, 0, 1], [w, h, 1], [0, h, 1]], np.float64) @ rot.T
    corners[:, 1] *= squash
    bw = corners[:, 0].max() - corners[:, 0].min()
    bh = corners[:, 1].max() - corners[:, 1].min()
    s = target_w / max(bw, bh, 1)         # the bag's largest extent, so a tall one is no taller
    # pre-shrink with area averaging (no aliasing), then one affine warp
    pre = min(1.0, 2 * s)
    if pre < 1:
        rgba = cv2.resize(rgba, (max(2, int(w * pre)), max(2, int(h * pre))), interpolation=cv2.INTER_AREA)
        h, w = rgba.shape[:2]
        s = s / pre
    out_w, out_h = max(2, int(np.ceil(bw * s)) + 2), max(2, int(np.ceil(bh * s)) + 2)
    m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, s)
    m[1] *= squash
    m[:, 2] = np.array([out_w / 2, out_h / 2]) - m[:, :2] @ np.array([w / 2, h / 2])  # centre → centre
    a = rgba[..., 3:].astype(np.float32) / 255
    pm = np.concatenate([rgba[..., :3].astype(np.float32) * a, a], axis=2)
    out = cv2.warpAffine(pm, m, (out_w, out_h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                         borderValue=(0, 0, 0, 0))
    alpha = out[..., 3]
    bgr = out[..., :3] / np.maximum(alpha[..., None], 1e-3)
    return np.dstack([bgr, alpha])


def _ground_y(height: int, hint_boxes: np.ndarray | None, door_boxes: np.ndarray | None) -> float | None:
    """The facade's ground line: the lowest door bottom, else the lowest window/door bottom.

    (Ground-floor windows end a sill above the pavement; the flood-filled ground mask does the rest.)
    """
    if door_boxes is not None and len(door_boxes):
        bottoms = door_boxes[:, 3][door_boxes[:, 3] > 0.5 * height]
        if len(bottoms):
            return float(bottoms.max())
    if hint_boxes is None or not len(hint_boxes):
        return None
    bottoms = hint_boxes[:, 3][hint_boxes[:, 3] > 0.5 * height]
    return float(bottoms.max()) if len(bottoms) else None


def ground_mask_of(image: np.ndarray) -> np.ndarray:
    """Pavement and road: what a colour flood fill reaches from the bottom edge of the frame.

    On a 160 px wide, median-filtered copy (Lab), fills from seeds along the bottom row with a small
    step tolerance, so it spreads over smooth ground and stops at kerbs-to-wall edges, shop fronts,
    cars and plants; an export's black fill blocks it. Returns an (H, W) bool mask at full size.
    """
    H, W = image.shape[:2]
    w = 160
    h = max(16, int(round(H * w / W)))
    small = cv2.medianBlur(cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA), 5)
    lab = cv2.cvtColor(small, cv2.COLOR_BGR2LAB)
    mask = np.zeros((h + 2, w + 2), np.uint8)
    hsv = cv2.cvtColor(small, cv2.COLOR_BGR2HSV)
    # the export's black fill, and strongly coloured things (barriers, signs, cars) are not pavement
    mask[1:-1, 1:-1][(hsv[..., 2] < 12) | (hsv[..., 1] > 150)] = 1
    for sx in range(4, w - 4, 6):
        sy = h - 2
        if mask[sy + 1, sx + 1]:
            continue
        cv2.floodFill(lab, mask, (sx, sy), 0, (3, 2, 2), (3, 2, 2),
                      4 | cv2.FLOODFILL_MASK_ONLY | (255 << 8))
    ground = mask[1:-1, 1:-1] == 255
    ground = cv2.morphologyEx(ground.astype(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    return cv2.resize(ground, (W, H), interpolation=cv2.INTER_NEAREST) > 0


def _overlaps(box: np.ndarray, boxes: np.ndarray, pad: float = 2.0) -> bool:
    if boxes is None or len(boxes) == 0:
        return False
    return bool(((np.minimum(box[2], boxes[:, 2] + pad) - np.maximum(box[0], boxes[:, 0] - pad) > 0)
                 & (np.minimum(box[3], boxes[:, 3] + pad) - np.maximum(box[1], boxes[:, 1] - pad) > 0)).any())


def _sky_like(patch: np.ndarray) -> bool:
    if patch.size == 0:
        return True
    hsv = cv2.cvtColor(patch, cv2.COLOR_BGR2HSV)
    sky = ((hsv[..., 0] >= 90) & (hsv[..., 0] <= 130) & (hsv[..., 1] > 25) & (hsv[..., 2] > 150)) | \
          ((hsv[..., 1] < 15) & (hsv[..., 2] > 235))
    return bool(sky.mean() > 0.6)


def speckle_density(bgr: np.ndarray) -> float:
    """Share of salt-and-pepper pixels: isolated near-black/near-white dots that some exports (the
    street_vehicles Roboflow export) sprinkle over the whole frame. A pasted object must carry them
    too, or "no speckle" becomes the tell-tale sign of a synthetic object."""
    gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    d = np.abs(gray.astype(np.int16) - cv2.medianBlur(gray, 3))
    return float(((d > 70) & ((gray < 40) | (gray > 215))).mean())


def add_speckle(image: np.ndarray, mask: np.ndarray, density: float, rng: np.random.Generator) -> None:
    """In place: salt-and-pepper dots on the masked pixels at the given density."""
    if density < 1e-4:
        return
    ys, xs = np.nonzero(mask)
    n = int(rng.binomial(len(ys), min(density, 0.2))) if len(ys) else 0
    if n == 0:
        return
    pick = rng.choice(len(ys), n, replace=False)
    dark = rng.random(n) < 0.5
    values = np.where(dark, rng.integers(0, 30, n), rng.integers(226, 256, n)).astype(np.uint8)
    image[ys[pick], xs[pick]] = values[:, None]


def _sharpness(gray: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Mean absolute Laplacian relative to local contrast: high for crisp texture, low for blur."""
    lap = np.abs(cv2.Laplacian(gray, cv2.CV_32F, ksize=3))
    if mask is not None:
        inner = cv2.erode(mask.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
        if inner.sum() < 16:
            return 0.0
        return float(lap[inner].mean() / (gray[inner].std() + 4.0))
    return float(lap.mean() / (gray.std() + 4.0))


def _matching_blur(ground: np.ndarray, bgr: np.ndarray, mask: np.ndarray) -> float:
    """The Gaussian sigma that brings the object's sharpness down to the background's."""
    if ground.size == 0 or mask.sum() < 16:
        return 0.0
    background = cv2.medianBlur(cv2.cvtColor(ground, cv2.COLOR_BGR2GRAY), 3)      # speckle is not detail
    target = _sharpness(background.astype(np.float32)) * 1.15
    gray = cv2.cvtColor(np.clip(bgr, 0, 255).astype(np.uint8), cv2.COLOR_BGR2GRAY).astype(np.float32)
    for sigma in (0.0, 0.6, 0.9, 1.2, 1.6, 2.0, 2.6):
        g = cv2.GaussianBlur(gray, (0, 0), sigma) if sigma else gray
        if _sharpness(g, mask) <= target:
            return sigma
    return 2.6


def _paste_one(image: np.ndarray, obj: np.ndarray, x0: int, y0: int, rng: np.random.Generator,
               contact_shadow: bool = True) -> np.ndarray:
    """Light-match, shadow, blur and blend a transformed cut-out with its top-left at (x0, y0).

    Returns the alpha actually used (clipped to the image).
    """
    H, W = image.shape[:2]
    # room around the object for the blurred tails of its contact shadow
    pad = max(3, int(0.12 * max(obj.shape[:2])))
    obj = np.pad(obj, ((pad, pad), (pad, pad), (0, 0)))
    x0, y0 = x0 - pad, y0 - pad
    oh, ow = obj.shape[:2]
    sx0, sy0 = max(0, -x0), max(0, -y0)
    sx1, sy1 = min(ow, W - x0), min(oh, H - y0)
    obj = obj[sy0:sy1, sx0:sx1]
    x0, y0 = x0 + sx0, y0 + sy0
    oh, ow = obj.shape[:2]
    bgr, alpha = obj[..., :3].copy(), obj[..., 3].copy()
    inside = alpha > 0.5
    if not inside.any():
        return np.zeros((0, 0), np.float32)
    # the ground around the object sets the light
    gy0, gy1 = max(0, y0 - oh // 3), min(H, y0 + oh + oh // 3)
    gx0, gx1 = max(0, x0 - ow // 2), min(W, x0 + ow + ow // 2)
    ground = image[gy0:gy1, gx0:gx1]
    g_lab = cv2.cvtColor(ground, cv2.COLOR_BGR2LAB).reshape(-1, 3).astype(np.float32).mean(0)
    o_lab = cv2.cvtColor(np.clip(bgr, 0, 255).astype(np.uint8), cv2.COLOR_BGR2LAB).astype(np.float32)
    o_mean = o_lab[inside].mean(0)
    # keep the bag's own albedo, but only part of its exposure: pull its lightness towards the scene's
    pull = rng.uniform(0.3, 0.6)
    gain = ((g_lab[0] + 1) / (o_mean[0] + 1)) ** pull
    o_lab[..., 0] *= float(np.clip(gain, 0.45, 1.8))
    o_lab[..., 1:] += (g_lab[1:] - 128) * rng.uniform(0.1, 0.35)          # the scene's colour cast
    # distance haze: lower contrast
    flat = rng.uniform(0.0, 0.25)
    o_lab[..., 0] = o_lab[..., 0] * (1 - flat) + float(o_lab[..., 0][inside].mean()) * flat
    bgr = cv2.cvtColor(np.clip(o_lab, 0, 255).astype(np.uint8), cv2.COLOR_LAB2BGR).astype(np.float32)
    # a vertical light gradient: tops of bags catch more light
    bgr *= np.linspace(rng.uniform(1.0, 1.15), rng.uniform(0.75, 0.95), oh, dtype=np.float32)[:, None, None]
    # trim the polygon's rim (labels include a sliver of the source's background), then feather
    if min(oh, ow) > 24:
        rim = max(1, int(round(min(oh, ow) * 0.02)))
        alpha = cv2.erode(alpha, np.ones((2 * rim + 1, 2 * rim + 1), np.uint8))
    # feathered mask edge and camera blur: at least as soft as the ground around it
    sigma = max(rng.uniform(0.3, 1.0) if rng.random() < 0.85 else rng.uniform(1.0, 1.8),
                _matching_blur(ground, bgr, obj[..., 3] > 0.5))
    alpha = cv2.GaussianBlur(alpha, (0, 0), max(0.5, sigma))
    pm = cv2.GaussianBlur(bgr * obj[..., 3:4], (0, 0), sigma)
    bgr = pm / np.maximum(cv2.GaussianBlur(obj[..., 3], (0, 0), sigma)[..., None], 1e-3)
    bgr += rng.normal(0, rng.uniform(1.5, 4.5), bgr.shape).astype(np.float32)

    region = image[y0:y0 + oh, x0:x0 + ow].astype(np.float32)
    if contact_shadow:
        # soft dark ellipse under the object's base, plus ambient occlusion right behind it
        cols = np.nonzero(inside.any(0))[0]
        rows = np.nonzero(inside.any(1))[0]
        cx = (cols[0] + cols[-1]) / 2
        base = rows[-1]
        shadow = np.zeros((oh, ow), np.float32)
        axes = (max(1, int((cols[-1] - cols[0]) * rng.uniform(0.42, 0.55))), max(1, int(oh * rng.uniform(0.05, 0.1))))
        cv2.ellipse(shadow, (int(cx + rng.uniform(-0.05, 0.05) * ow), int(base - axes[1] * 0.3)), axes, 0, 0, 360,
                    1.0, -1, lineType=cv2.LINE_AA)
        shadow = cv2.GaussianBlur(shadow, (0, 0), max(0.7, axes[1] * 0.5))
        dark = rng.uniform(0.25, 0.5)
        region *= (1 - dark * shadow)[..., None]
    a = alpha[..., None]
    region = region * (1 - a) + np.clip(bgr, 0, 255) * a
    image[y0:y0 + oh, x0:x0 + ow] = np.clip(region, 0, 255).astype(np.uint8)
    full = np.zeros((H, W), np.float32)
    full[y0:y0 + oh, x0:x0 + ow] = alpha
    return full


def paste_garbage(image: np.ndarray, cutouts: list[GarbageCutout], avoid_boxes: np.ndarray,
                  rng: np.random.Generator, max_items: int = 3,
                  hint_boxes: np.ndarray | None = None,
                  door_boxes: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Paste 1..max_items garbage bags (some as a heap) onto the ground of `image` (BGR uint8).

    avoid_boxes: (n, 4) xyxy of labelled objects the garbage must not cover (vehicles, people, signs).
    hint_boxes, door_boxes: a facade's windows+doors and its doors (pass both when known, an empty
    door array included): the ground line is the lowest door bottom and bags stand below it. A facade
    without a door standing in the lower half of the frame gets no garbage (its bottom is usually wall,
    not pavement); with hints only, the lowest window/door bottom stands in for the ground line.
    Returns the new image and (k, 4) float32 xyxy boxes of the visible garbage (k may be 0).
    """
    image = np.ascontiguousarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"paste_garbage needs a BGR uint8 image, got {image.dtype} {image.shape}")
    out = image.copy()
    H, W = image.shape[:2]
    if not cutouts or max_items < 1:
        return out, np.zeros((0, 4), np.float32)
    avoid = np.asarray(avoid_boxes if avoid_boxes is not None else np.zeros((0, 4)), np.float64).reshape(-1, 4)
    hints = None if hint_boxes is None else np.asarray(hint_boxes, np.float64).reshape(-1, 4)
    doors = None if door_boxes is None else np.asarray(door_boxes, np.float64).reshape(-1, 4)
    ground = _ground_y(H, hints, doors)
    facade = (hints is not None and len(hints) > 0) or doors is not None
    if doors is not None and not (doors[:, 3] > 0.5 * H).any():
        ground = None       # doors were looked for and none stands on the ground in view: no ground line
    if facade and (ground is None or ground > 0.985 * H):
        # a facade whose ground floor runs out of the frame, or a close-up of upper floors: the bottom
        # of the frame is wall, not pavement
        return out, np.zeros((0, 4), np.float32)
    g_lo = max(ground, 0.5 * H) if ground is not None else 0.5 * H
    gmask = ground_mask_of(image)
    gmask[: int(np.ceil(g_lo))] = False
    gmask[int(0.995 * H):] = False
    # pavement and road run across the frame; a flood that only found a patch (a dark passage, a
    # flower box, a wall plinth) is not ground
    gmask[gmask.mean(axis=1) < 0.35] = False
    ys, xs = np.nonzero(gmask[::4, ::4])
    if not len(ys):
        return out, np.zeros((0, 4), np.float32)      # no pavement or road in sight
    ys, xs = ys * 4, xs * 4
    g_top = float(ys.min())
    native = np.array([max(c.rgba.shape[:2]) for c in cutouts], np.float64)

    n = int(rng.integers(1, max_items + 1))
    groups: list[int] = []
    while sum(groups) < n:
        if n - sum(groups) >= 2 and rng.random() < 0.4:
            groups.append(int(rng.integers(2, min(5, n - sum(groups)) + 1)))
        else:
            groups.append(1)
    close = rng.random() < 0.15
    # the scene's pixels per metre when a facade's doors/windows give it (a bag is 0.35-0.9 m)
    ppm = None
    if hints is not None and len(hints):
        heights = hints[:, 3] - hints[:, 1]
        heights = heights[heights > 8]
        if len(heights):
            ppm = float(np.median(heights)) / 1.8
    alphas: list[np.ndarray] = []
    group_of: list[int] = []
    for gi, count in enumerate(groups):
        # one anchor per group
        anchor = None
        for _try in range(30):
            i = int(rng.integers(0, len(ys)))
            v, x = float(ys[i]) + rng.uniform(0, 4), float(xs[i]) + rng.uniform(0, 4)
            t = (v - g_top) / max(H - g_top, 1.0)          # 0 at the far edge of the ground, 1 at the camera
            depth = 0.55 + 0.9 * t
            if ppm is not None:     # on the pavement in front of the facade, up to 1.6x nearer than it
                bw = rng.uniform(0.35, 0.9) * ppm * rng.uniform(1.0, 1.6)
            else:                   # a street frame: 2-9 % of the width, more when near
                frac = float(np.exp(rng.uniform(np.log(0.022), np.log(0.09)))) * depth
                if close:
                    frac *= rng.uniform(1.3, 2.0)
                bw = frac * W
            bw = float(np.clip(bw, 10, 0.18 * W))
            span = bw * (1 + 0.5 * (count - 1))
            area = np.array([x - span / 2, v - span * 0.9, x + span / 2, v])
            if area[0] < 0 or area[2] > W or area[1] < 0:
                continue
            if _overlaps(area, avoid):
                continue
            # it stands on the ground: most of the strip under it is ground
            foot = gmask[int(max(0, v - 0.15 * span * 0.9)):int(min(H, v + 2)), int(area[0]):int(area[2])]
            if foot.size == 0 or foot.mean() < 0.6:
                continue
            ia = np.clip(area, 0, [W, H, W, H]).astype(int)
            if _sky_like(image[ia[1]:ia[3], ia[0]:ia[2]]):
                continue
            anchor = (x, v, bw, span)
            break
        if anchor is None:
            continue
        x, v, bw, span = anchor
        items = []
        for _ in range(count):
            w_k = bw * (rng.uniform(0.6, 1.1) if count > 1 else 1.0)
            # a cut-out that is shrunk (crisp), else one blown up at most 1.5× (the CCTV sources are soft)
            pool = np.nonzero(native >= 1.6 * w_k)[0]
            if len(pool) < 8:
                pool = np.nonzero(native * 1.5 >= w_k)[0]
            if not len(pool):
                pool = np.arange(len(cutouts))
            c = cutouts[int(pool[rng.integers(0, len(pool))])]
            dx = 0.0 if count == 1 else rng.uniform(-0.5, 0.5) * (span - w_k)
            dv = 0.0 if count == 1 else rng.uniform(-0.12, 0.03) * span
            items.append((max(v + dv, g_lo), x + dx, w_k, c))
        items.sort(key=lambda t: t[0])            # farther (higher) first, nearer drawn over them
        for v_k, x_k, w_k, c in items:
            rgba = c.rgba.copy()
            rgba[..., :3] = _recolour(rgba[..., :3], rgba[..., 3], rng).astype(np.uint8)
            obj = _transform(rgba, rng, w_k, c.top_down)
            oh, ow = obj.shape[:2]
            rows = np.nonzero((obj[..., 3] > 0.5).any(1))[0]
            if not len(rows):
                continue
            base = rows[-1]
            x0, y0 = int(round(x_k - ow / 2)), int(round(v_k - base))
            box = np.array([x0, y0, x0 + ow, y0 + oh], np.float64)
            if box[0] < 0 or box[2] > W or box[1] < 0 or y0 + base >= H or _overlaps(box, avoid):
                continue
            full = _paste_one(out, obj, x0, y0, rng)
            if full.size:
                alphas.append(full)
                group_of.append(gi)

    if not alphas:
        return out, np.zeros((0, 4), np.float32)
    # visibility: the item drawn last owns a pixel
    owner = np.full((H, W), -1, np.int16)
    solid_area = []
    for i, a in enumerate(alphas):
        solid = a > 0.5
        owner[solid] = i
        solid_area.append(int(solid.sum()))
    add_speckle(out, owner >= 0, speckle_density(image), rng)
    boxes: dict[int, np.ndarray] = {}
    hidden: list[int] = []
    for i in range(len(alphas)):
        ys, xs = np.nonzero(owner == i)
        if len(xs) < 6:
            continue
        b = np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], np.float64)
        if len(xs) < 0.3 * max(solid_area[i], 1):
            hidden.append(i)
            boxes[i] = b
        else:
            boxes[i] = b
    keep = {i: b for i, b in boxes.items() if i not in hidden}
    for i in hidden:                               # merge a hidden bag into the heap-mate covering it
        mates = [j for j in keep if group_of[j] == group_of[i] and j > i]
        if not mates:
            continue
        b = boxes[i]
        over = [(np.minimum(b[2:], keep[j][2:]) - np.maximum(b[:2], keep[j][:2])).clip(0).prod() for j in mates]
        j = mates[int(np.argmax(over))]
        keep[j] = np.concatenate([np.minimum(keep[j][:2], b[:2]), np.maximum(keep[j][2:], b[2:])])
    result = np.array([keep[i] for i in sorted(keep)], np.float32).reshape(-1, 4)
    result[:, [0, 2]] = np.clip(result[:, [0, 2]], 0, W)
    result[:, [1, 3]] = np.clip(result[:, [1, 3]], 0, H)
    return out, result[box_area(result) > 0]
