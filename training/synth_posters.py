"""Synthetic fly-posters (非法小广告): paper sheets, stickers and sprayed phone numbers with Chinese ad
text, aged, warped, lit and composited onto the walls and doors of real facade and street images.

No public street-level fly-poster data exists (DESIGN.md, "The model"), so we render them. What makes
them useful is that they look like the real thing at the size a street camera sees them:

- Scale: an A4 sheet is 0.21 × 0.297 m. The scene's pixels per metre come from the door and window
  boxes around (`hint_boxes`: doors ~2.1 m, windows ~1.5 m tall) or, without them, from a frame that
  spans 8–25 m of facade. Seen from across the street an A4 sheet is then 1–3 % of the frame width and
  a sticker under 1 %. A share of posters is drawn 1.5–3× larger (a closer camera) so both are learnt.
- Placement: on facades (door/window hints given), at hand height above the ground line (0.3–2.4 m,
  sometimes higher); on street frames without hints, only along long near-vertical edges (poles,
  wall corners, door frames) and never on road-coloured patches. Never over a shop sign, window ad or
  other labelled object (`avoid_boxes`), rarely (5 %) over windows, freely on doors (`door_boxes`);
  not on vegetation, sky, black export fill or blown-out pixels. Sometimes a cluster of several
  overlapping sheets on one spot of wall.
- Look: paper colour and texture, fading/yellowing, dirt and rain streaks, torn corners, ripped-off
  chunks and ragged edges, a perspective warp, desaturated print, light and colour matched to the
  wall behind (its brightness, local shading and the frame's colour cast), blur, sensor noise and
  JPEG artefacts of the patch.

Returned boxes bound what stays visible after tearing and overlap (alpha > 0.5). A poster less than
30 % visible (covered by a later one in its cluster) or under 6 visible pixels gets no box.
All randomness comes from the caller's `numpy.random.Generator`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from cv.geometry import box_area
from training.copy_paste import add_speckle, ground_mask_of, speckle_density

# Debian fonts-wqy-microhei (scripts/system-deps.sh) first; other CJK fonts as fall-backs.
_FONT_NAMES = ("wqy-microhei.ttc", "wqy-zenhei.ttc", "NotoSansCJK-Regular.ttc", "NotoSerifCJK-Regular.ttc",
               "NotoSansCJKsc-Regular.otf", "DroidSansFallbackFull.ttf", "uming.ttc", "ukai.ttc")
_FONT_DIRS = ("/usr/share/fonts", "/usr/local/share/fonts", "~/.local/share/fonts", "~/.fonts")


def find_cjk_font() -> Path:
    """The path of a CJK font (WenQuanYi Micro Hei from Debian's `fonts-wqy-microhei`)."""
    for directory in _FONT_DIRS:
        root = Path(directory).expanduser()
        if not root.is_dir():
            continue
        for name in _FONT_NAMES:
            hits = sorted(root.rglob(name))
            if hits:
                return hits[0]
    raise FileNotFoundError(
        "no CJK font found under /usr/share/fonts: synthetic fly-posters need one; install Debian's "
        "fonts-wqy-microhei (as root: bash scripts/system-deps.sh, or apt-get install fonts-wqy-microhei)")


# ----------------------------------------------------------------------------------------------
# Ad text
# ----------------------------------------------------------------------------------------------

# category: (titles, body lines). Typical wording of the small ads that 城管 scrapes off walls.
_ADS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "办证": (("办证", "办理各类证件", "办证刻章", "代办证件"),
           ("毕业证 学位证 资格证", "身份证 驾驶证 房产证", "各类证件 快速办理", "一条龙服务 包过", "保真 可查 当天取")),
    "开锁": (("开锁", "开锁换锁", "专业开锁", "110备案开锁"),
           ("开汽车锁 保险柜", "换锁芯 配钥匙", "公安备案 24小时服务", "防盗门 指纹锁安装", "上门快 价格低")),
    "疏通": (("疏通管道", "管道疏通", "疏通下水道", "专业疏通"),
           ("马桶 地漏 下水道", "抽化粪池 清理隔油池", "高压清洗 管道维修", "水电安装 改造", "不通不收费")),
    "贷款": (("贷款", "无抵押贷款", "急用钱找我", "信用贷款"),
           ("当天放款 额度高", "凭身份证 即可办理", "房产抵押 车贷", "利息低 手续简单", "黑户 网贷 均可")),
    "招聘": (("招聘", "高薪招聘", "急聘", "招工"),
           ("普工 服务员 保安", "月薪5000-8000元", "包吃包住 日结", "男女不限 18-45岁", "学徒 司机 若干名")),
    "搬家": (("搬家", "搬家公司", "蚂蚁搬家", "搬家搬厂"),
           ("居民搬家 公司搬迁", "长短途运输 空调移机", "拆装家具 钢琴搬运", "价格优惠 服务周到")),
    "刻章": (("刻章", "刻章办证", "印章"),
           ("公章 财务章 合同章", "发票 各类印章", "立等可取")),
    "收购": (("高价收购", "回收", "收购"),
           ("烟酒 购物卡 旧手机", "二手家电 空调 电脑", "名酒 冬虫夏草 黄金", "上门回收 现金结算")),
    "出租": (("房屋出租", "出租", "旺铺转让", "租房"),
           ("单间 一室一厅 两室", "拎包入住 家电齐全", "近地铁 交通方便", "价格面议")),
    "维修": (("家电维修", "维修", "空调维修"),
           ("空调 冰箱 洗衣机", "热水器 燃气灶 油烟机", "加氟 清洗 移机", "上门维修 随叫随到")),
    "补习": (("家教", "补习班", "托管"),
           ("小学 初中 高中", "语文 数学 英语", "一对一辅导", "暑假班 招生中")),
}
_PHONE_PREFIXES = ("130", "131", "132", "133", "135", "136", "137", "138", "139", "150", "151", "152",
                   "153", "155", "156", "157", "158", "159", "166", "173", "176", "177", "180", "181",
                   "182", "183", "185", "186", "187", "188", "189", "191", "198", "199")
_PHONE_LABELS = ("", "", "", "电话：", "电话 ", "热线：", "联系电话：", "TEL:", "手机：", "咨询：")


def _phone(rng: np.random.Generator) -> str:
    digits = rng.choice(_PHONE_PREFIXES) + "".join(str(d) for d in rng.integers(0, 10, 8))
    style = rng.integers(0, 4)
    if style == 1:
        digits = f"{digits[:3]} {digits[3:7]} {digits[7:]}"
    elif style == 2:
        digits = f"{digits[:3]}-{digits[3:7]}-{digits[7:]}"
    return digits


def _pick(rng: np.random.Generator, items) -> str:
    return items[int(rng.integers(0, len(items)))]


def _lines(rng: np.random.Generator, items, n: int) -> list[str]:
    """n body lines, each used once before any repeats (long lists mix in other categories' lines)."""
    pool = list(items)
    if n > len(pool):
        others = [line for _t, b in _ADS.values() for line in b if line not in pool]
        pool += [others[i] for i in rng.choice(len(others), n - len(pool), replace=False)]
    return [pool[i] for i in rng.permutation(len(pool))[:n]]


# ----------------------------------------------------------------------------------------------
# Rendering (Pillow draws the text; numpy/OpenCV the rest)
# ----------------------------------------------------------------------------------------------

# (paper RGB, text colours that a printer would use on it)
_PAPERS = (
    ((246, 246, 240), ((210, 25, 25), (20, 20, 20), (20, 50, 160))),   # white
    ((238, 238, 228), ((200, 30, 30), (25, 25, 25))),                    # off-white
    ((250, 228, 80), ((200, 20, 20), (20, 20, 20))),                     # yellow
    ((255, 240, 150), ((220, 30, 30), (30, 30, 120))),                   # pale yellow
    ((210, 35, 35), ((255, 255, 255), (255, 235, 60))),                  # red
    ((245, 165, 190), ((180, 10, 40), (20, 20, 20))),                    # pink
    ((45, 100, 195), ((255, 255, 255), (255, 235, 60))),                 # blue
    ((185, 212, 232), ((20, 40, 140), (200, 20, 20))),                   # light blue
    ((160, 215, 130), ((20, 20, 20), (200, 20, 20))),                    # green
    ((250, 170, 60), ((20, 20, 20), (255, 255, 255))),                   # orange
)
_PAPER_P = np.array([0.28, 0.09, 0.16, 0.07, 0.14, 0.08, 0.03, 0.05, 0.04, 0.06])


@dataclass
class _Poster:
    rgba: np.ndarray          # RGBA uint8
    kind: str                 # "sheet" | "sticker" | "spray"
    height_m: float           # physical height


@lru_cache(maxsize=256)
def _font(path: str, size: int):
    from PIL import ImageFont

    return ImageFont.truetype(path, max(6, int(size)))


def _text_size(draw, text: str, font) -> tuple[int, int, int, int]:
    return draw.textbbox((0, 0), text, font=font)


def _fit_font(draw, font_path: str, text: str, max_w: float, max_h: float):
    """The largest font whose rendering of `text` fits max_w × max_h."""
    size = max(6, int(max_h))
    for _ in range(12):
        font = _font(font_path, size)
        x0, y0, x1, y1 = _text_size(draw, text, font)
        w, h = x1 - x0, y1 - y0
        if w <= max_w and h <= max_h:
            return font
        scale = min(max_w / max(w, 1), max_h / max(h, 1))
        new = int(size * scale * 0.97)
        size = max(6, min(new, size - 1))
        if size == 6:
            return _font(font_path, 6)
    return _font(font_path, size)


def _draw_centered(draw, text: str, font, cx: float, cy: float, fill) -> None:
    x0, y0, x1, y1 = _text_size(draw, text, font)
    draw.text((cx - (x0 + x1) / 2, cy - (y0 + y1) / 2), text, font=font, fill=fill)


def _paper_texture(h: int, w: int, rgb, rng: np.random.Generator) -> np.ndarray:
    base = np.empty((h, w, 3), np.float32)
    base[:] = rgb
    low = cv2.resize(rng.normal(0, 1, (max(2, h // 24), max(2, w // 24))).astype(np.float32), (w, h),
                     interpolation=cv2.INTER_CUBIC)
    base *= (1 + 0.012 * low)[..., None]
    base += rng.normal(0, 2.5, (h, w, 1)).astype(np.float32)
    return np.clip(base, 0, 255)


def _render(rng: np.random.Generator, font: Path, height_px: int, kind: str | None = None) -> _Poster:
    from PIL import Image, ImageDraw

    font_path = str(font)
    if kind is None:
        kind = str(rng.choice(["sheet", "sticker", "spray"], p=[0.62, 0.28, 0.10]))
    category = _pick(rng, list(_ADS))
    titles, bodies = _ADS[category]
    title = _pick(rng, titles)
    phone = _phone(rng)
    h = int(max(height_px, 16))

    if kind == "spray":
        # Phone numbers sprayed or stencilled straight onto the wall: no paper, soft-edged paint.
        lines = [title, phone] if rng.random() < 0.7 else [title + " " + phone]
        aspect = 3.2 if len(lines) == 2 else 6.0
        w = int(h * aspect * rng.uniform(0.8, 1.2))
        img = Image.new("L", (w, h), 0)
        draw = ImageDraw.Draw(img)
        band = h / len(lines)
        for i, line in enumerate(lines):
            f = _fit_font(draw, font_path, line, w * 0.96, band * 0.86)
            _draw_centered(draw, line, f, w / 2, band * (i + 0.5), 255)
        alpha = np.asarray(img, np.float32) / 255
        alpha = cv2.GaussianBlur(alpha, (0, 0), max(0.6, h * 0.012))
        speckle = rng.random(alpha.shape).astype(np.float32)
        alpha = np.clip(alpha * (0.75 + 0.35 * speckle), 0, 1) * rng.uniform(0.75, 0.95)
        colour = np.array(_pick(rng, ((25, 25, 25), (30, 30, 30), (170, 25, 25), (30, 40, 120))), np.float32)
        rgba = np.empty((h, w, 4), np.uint8)
        rgba[..., :3] = colour
        rgba[..., 3] = (alpha * 255).astype(np.uint8)
        return _Poster(rgba, kind, rng.uniform(0.12, 0.35))

    paper_idx = int(rng.choice(len(_PAPERS), p=_PAPER_P))
    paper, inks = _PAPERS[paper_idx]
    ink = _pick(rng, inks)
    ink2 = _pick(rng, inks)
    if kind == "sticker":
        aspect = float(rng.choice([2.6, 3.4, 4.2, 1.6, 0.45]))
        height_m = rng.uniform(0.025, 0.06) if aspect > 1 else rng.uniform(0.07, 0.12)
    else:
        aspect = float(rng.choice([0.707, 0.707, 0.707, 1.414, 1.414, 0.45, 1.0, 0.33],))
        if aspect < 0.4:
            height_m = rng.uniform(0.3, 0.6)      # long strip
        elif aspect < 1:
            height_m = float(rng.choice([0.21, 0.297, 0.297, 0.297, 0.42]))   # A5 / A4 / A3 portrait
        else:
            height_m = float(rng.choice([0.148, 0.21, 0.21, 0.297]))
        height_m *= rng.uniform(0.9, 1.1)
    w = max(8, int(round(h * aspect)))
    canvas = _paper_texture(h, w, paper, rng).astype(np.uint8)
    img = Image.fromarray(canvas, "RGB")
    draw = ImageDraw.Draw(img)
    m = max(1, int(min(w, h) * rng.uniform(0.04, 0.08)))

    if kind == "sticker":
        if aspect < 1:       # portrait sticker: characters stacked vertically
            text = title[:4] + phone.replace(" ", "").replace("-", "")[:11]
            n = len(text)
            f = _fit_font(draw, font_path, "8", w * 0.8, (h - 2 * m) / n * 1.05)
            for i, ch in enumerate(text):
                _draw_centered(draw, ch, f, w / 2, m + (h - 2 * m) * (i + 0.5) / n, ink)
        elif rng.random() < 0.5:
            line = title[:4] + " " + phone
            f = _fit_font(draw, font_path, line, w - 2 * m, h * 0.7)
            _draw_centered(draw, line, f, w / 2, h / 2, ink)
        else:
            f1 = _fit_font(draw, font_path, title, w - 2 * m, h * 0.42)
            f2 = _fit_font(draw, font_path, phone, w - 2 * m, h * 0.36)
            _draw_centered(draw, title, f1, w / 2, h * 0.3, ink)
            _draw_centered(draw, phone, f2, w / 2, h * 0.72, ink2)
        if rng.random() < 0.3:
            draw.rectangle([1, 1, w - 2, h - 2], outline=ink, width=max(1, h // 20))
    else:
        layout = int(rng.integers(0, 4))
        y = float(m)
        inner_w = w - 2 * m
        if rng.random() < 0.35:     # red or ink border, sometimes double
            bw = max(1, int(min(w, h) * 0.02))
            draw.rectangle([m // 2, m // 2, w - 1 - m // 2, h - 1 - m // 2], outline=ink, width=bw)
            if rng.random() < 0.4:
                draw.rectangle([m, m, w - 1 - m, h - 1 - m], outline=ink, width=max(1, bw // 2))
            y += m / 2
            inner_w -= m
        if layout == 0 or aspect < 0.5:
            # big title, a few body lines, big phone number
            n_body = int(rng.integers(1, 4))
            shares = [0.3] + [0.5 / n_body] * n_body + [0.2]
            texts = [title] + _lines(rng, bodies, n_body) + [phone]
        elif layout == 1:
            # header band with the title in paper colour, then a dense list
            band_h = h * rng.uniform(0.16, 0.24)
            draw.rectangle([0, 0, w, band_h], fill=ink)
            f = _fit_font(draw, font_path, title, inner_w, band_h * 0.8)
            _draw_centered(draw, title, f, w / 2, band_h / 2, paper)
            y = band_h + m * 0.5
            n_body = int(rng.integers(3, 7))
            texts = _lines(rng, bodies, n_body) + [_pick(rng, _PHONE_LABELS) + phone]
            shares = [0.7 / n_body] * n_body + [0.3]
        elif layout == 2:
            # phone-centric: title and a huge number
            texts = [title, phone]
            shares = [0.45, 0.4]
        else:
            # many small lines (typed list), title in the middle
            n_body = int(rng.integers(4, 9))
            body = _lines(rng, bodies, n_body)
            texts = body[: n_body // 2] + [title] + body[n_body // 2:] + [phone]
            shares = [0.6 / n_body] * (n_body // 2) + [0.2] + [0.6 / n_body] * (n_body - n_body // 2) + [0.2]
        avail = h - y - m
        total = sum(shares)
        for text, share in zip(texts, shares):
            line_h = avail * share / total
            f = _fit_font(draw, font_path, text, inner_w, line_h * 0.82)
            colour = ink if (text == title or text.endswith(phone)) else ink2
            _draw_centered(draw, text, f, w / 2, y + line_h / 2, colour)
            y += line_h
        if rng.random() < 0.3:      # red stamp
            r = int(min(w, h) * rng.uniform(0.12, 0.2))
            cx = int(w * rng.uniform(0.55, 0.85))
            cy = int(h * rng.uniform(0.6, 0.85))
            stamp = Image.new("L", (w, h), 0)
            sd = ImageDraw.Draw(stamp)
            sd.ellipse([cx - r, cy - r, cx + r, cy + r], outline=200, width=max(1, r // 8))
            f = _fit_font(sd, font_path, category[:2], r * 1.2, r * 0.8)
            _draw_centered(sd, category[:2], f, cx, cy, 200)
            a = np.asarray(stamp, np.float32)[..., None] / 255
            arr = np.asarray(img, np.float32)
            arr = arr * (1 - a) + np.array([200, 30, 30], np.float32) * a
            img = Image.fromarray(arr.astype(np.uint8), "RGB")
    rgb = np.asarray(img, np.uint8)
    rgba = np.concatenate([rgb, np.full((h, w, 1), 255, np.uint8)], axis=2)
    if kind == "sticker" and rng.random() < 0.4:       # rounded corners
        r = max(1, int(min(w, h) * 0.18))
        mask = np.zeros((h, w), np.uint8)
        cv2.rectangle(mask, (r, 0), (w - 1 - r, h - 1), 255, -1)
        cv2.rectangle(mask, (0, r), (w - 1, h - 1 - r), 255, -1)
        for cx, cy in ((r, r), (w - 1 - r, r), (r, h - 1 - r), (w - 1 - r, h - 1 - r)):
            cv2.circle(mask, (cx, cy), r, 255, -1, lineType=cv2.LINE_AA)
        rgba[..., 3] = mask
    return _Poster(rgba, kind, float(height_m))


def render_poster(rng: np.random.Generator, font: Path, height_px: int) -> np.ndarray:
    """One clean poster, sticker or sprayed number as an RGBA uint8 array `height_px` tall."""
    poster = _render(rng, font, max(int(height_px), 16))
    rgba = poster.rgba
    if rgba.shape[0] != height_px:
        scale = height_px / rgba.shape[0]
        size = (max(1, int(round(rgba.shape[1] * scale))), int(height_px))
        rgba = cv2.resize(rgba, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    return rgba


# ----------------------------------------------------------------------------------------------
# Ageing: fading, dirt, tearing (at render resolution, before the warp)
# ----------------------------------------------------------------------------------------------

def _low_noise(h: int, w: int, cells: int, rng: np.random.Generator) -> np.ndarray:
    gh, gw = max(2, int(h * cells / max(h, w)) + 1), max(2, int(w * cells / max(h, w)) + 1)
    return cv2.resize(rng.normal(0, 1, (gh, gw)).astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)


def _ragged_polygon_mask(h: int, w: int, poly: np.ndarray) -> np.ndarray:
    mask = np.zeros((h, w), np.uint8)
    cv2.fillPoly(mask, [np.round(poly).astype(np.int32)], 255, lineType=cv2.LINE_AA)
    return mask


def _jagged_line(p0, p1, n: int, amp: float, rng: np.random.Generator) -> np.ndarray:
    t = np.linspace(0, 1, n)[:, None]
    pts = np.asarray(p0, np.float32) * (1 - t) + np.asarray(p1, np.float32) * t
    d = np.asarray(p1, np.float32) - np.asarray(p0, np.float32)
    normal = np.array([-d[1], d[0]], np.float32) / max(float(np.hypot(*d)), 1e-6)
    off = np.cumsum(rng.normal(0, amp, n)).astype(np.float32)
    off -= np.linspace(off[0], off[-1], n)
    return pts + off[:, None] * normal


def _age(poster: _Poster, rng: np.random.Generator) -> np.ndarray:
    rgba = poster.rgba.copy()
    h, w = rgba.shape[:2]
    rgb = rgba[..., :3].astype(np.float32)
    alpha = rgba[..., 3].astype(np.float32) / 255
    age = rng.random() ** 1.5         # most posters are fairly fresh, some old
    if poster.kind != "spray":
        # sun fading towards a washed-out, slightly yellowed paper
        faded = np.array([232, 226, 205], np.float32)
        rgb = rgb * (1 - 0.55 * age) + faded * 0.55 * age
        # dirt and wrinkles: low-frequency shading, vertical rain streaks
        rgb *= (1 + (0.01 + 0.04 * age) * _low_noise(h, w, 10, rng))[..., None]
        if age > 0.4 and rng.random() < 0.5:
            # a few grimy runs from the top edge, of random width and length
            streaks = np.zeros((h, w), np.float32)
            for _ in range(int(rng.integers(1, 5))):
                x = int(rng.integers(0, w))
                sw = max(1, int(w * rng.uniform(0.01, 0.05)))
                length = int(h * rng.uniform(0.2, 0.9))
                streaks[:length, max(0, x - sw):x + sw] = np.linspace(1, 0, length)[:, None]
            streaks = cv2.GaussianBlur(streaks, (0, 0), max(0.8, w * 0.01))
            rgb *= (1 - 0.15 * age * streaks)[..., None]
        # tearing
        tear = rng.random()
        if tear < 0.35 + 0.4 * age:
            keep = np.full((h, w), 255, np.uint8)
            n_tears = int(rng.integers(1, 3))
            for _ in range(n_tears):
                corner = int(rng.integers(0, 4))
                cx, cy = (0, 0) if corner == 0 else (w, 0) if corner == 1 else (w, h) if corner == 2 else (0, h)
                a = rng.uniform(0.15, 0.55 if age > 0.5 else 0.35)
                b = rng.uniform(0.15, 0.55 if age > 0.5 else 0.35)
                px = (cx + (w * a if cx == 0 else -w * a), cy)
                py = (cx, cy + (h * b if cy == 0 else -h * b))
                edge = _jagged_line(px, py, 24, max(h, w) * 0.012, rng)
                poly = np.vstack([[cx, cy], edge])
                cv2.fillPoly(keep, [np.round(poly).astype(np.int32)], 0, lineType=cv2.LINE_AA)
            if age > 0.6 and rng.random() < 0.5:
                # a big chunk ripped off across the sheet
                side = rng.random() < 0.5
                t0, t1 = rng.uniform(0.3, 0.8, 2)
                if side:
                    edge = _jagged_line((0, h * t0), (w, h * t1), 40, max(h, w) * 0.015, rng)
                    poly = np.vstack([edge, [[w, h], [0, h]]]) if rng.random() < 0.5 else \
                        np.vstack([edge, [[w, 0], [0, 0]]])
                else:
                    edge = _jagged_line((w * t0, 0), (w * t1, h), 40, max(h, w) * 0.015, rng)
                    poly = np.vstack([edge, [[w, h], [w, 0]]]) if rng.random() < 0.5 else \
                        np.vstack([edge, [[0, h], [0, 0]]])
                cv2.fillPoly(keep, [np.round(poly).astype(np.int32)], 0, lineType=cv2.LINE_AA)
            alpha *= keep.astype(np.float32) / 255
        # ragged paper edge
        if rng.random() < 0.5:
            rough = _low_noise(h, w, 30, rng)
            border = np.minimum.reduce([np.arange(w)[None, :].repeat(h, 0), (w - 1 - np.arange(w))[None, :].repeat(h, 0),
                                        np.arange(h)[:, None].repeat(w, 1), (h - 1 - np.arange(h))[:, None].repeat(w, 1)])
            alpha *= np.clip((border + 0.8 * rough * max(1.0, min(h, w) * 0.01)) / 1.0, 0, 1)
    else:
        alpha *= 1 - 0.5 * age * np.clip(_low_noise(h, w, 8, rng) * 0.5 + 0.5, 0, 1)
    out = np.empty_like(rgba)
    out[..., :3] = np.clip(rgb, 0, 255).astype(np.uint8)
    out[..., 3] = np.clip(alpha * 255, 0, 255).astype(np.uint8)
    return out


# ----------------------------------------------------------------------------------------------
# The scene: scale, placement, lighting, compositing
# ----------------------------------------------------------------------------------------------

def _px_per_metre(width: int, hint_boxes: np.ndarray | None, rng: np.random.Generator) -> float:
    """Pixels per metre on the facade plane, from door/window heights when present."""
    if hint_boxes is not None and len(hint_boxes):
        heights = hint_boxes[:, 3] - hint_boxes[:, 1]
        heights = heights[heights > 8]
        if len(heights):
            # doors are ~2.1 m, windows ~1.5 m (Soviet-era windows often taller): 1.8 m on average
            ppm = float(np.median(heights)) / 1.8 * rng.uniform(0.85, 1.15)
            return float(np.clip(ppm, width / 40, width / 3))
    return width / rng.uniform(8, 25)


def _ground_y(height: int, hint_boxes: np.ndarray | None, rng: np.random.Generator) -> float:
    if hint_boxes is not None and len(hint_boxes):
        bottoms = hint_boxes[:, 3][hint_boxes[:, 3] > 0.55 * height]
        if len(bottoms):
            return float(bottoms.max()) + rng.uniform(0, 0.03) * height
    return height * rng.uniform(0.9, 1.08)


def _bad_surface(patch_bgr: np.ndarray, top_frac: float) -> bool:
    """Vegetation, sky or blown-out pixels: not a surface anyone pastes an ad on."""
    if patch_bgr.size == 0:
        return True
    hsv = cv2.cvtColor(patch_bgr, cv2.COLOR_BGR2HSV)
    hch, s, v = hsv[..., 0].astype(np.int16), hsv[..., 1], hsv[..., 2]
    green = ((hch >= 33) & (hch <= 88) & (s > 70) & (v > 35)).mean()
    if green > 0.35:
        return True
    if (v > 248).mean() > 0.5 or (v < 10).mean() > 0.2:      # blown out, or an export's black fill
        return True
    if top_frac < 0.45:
        sky = (((hch >= 90) & (hch <= 130) & (s > 25) & (v > 150)) | ((s < 20) & (v > 200))).mean()
        if sky > 0.6 and float(cv2.cvtColor(patch_bgr, cv2.COLOR_BGR2GRAY).std()) < 8:
            return True
    return False


def _vertical_lines(image: np.ndarray) -> np.ndarray:
    """Long near-vertical straight edges (poles, wall corners, door frames): (n, 4) x1 y1 x2 y2, y1 < y2."""
    H, W = image.shape[:2]
    gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    edges = cv2.Canny(cv2.GaussianBlur(gray, (3, 3), 0), 60, 160)
    lines = cv2.HoughLinesP(edges, 1, np.pi / 180, threshold=max(30, H // 12), minLineLength=0.15 * H,
                            maxLineGap=4)
    if lines is None:
        return np.zeros((0, 4))
    lines = lines.reshape(-1, 4).astype(np.float64)
    dx, dy = lines[:, 2] - lines[:, 0], lines[:, 3] - lines[:, 1]
    lines = lines[np.abs(dx) < 0.1 * np.abs(dy)]
    flip = lines[:, 1] > lines[:, 3]
    lines[flip] = lines[flip][:, [2, 3, 0, 1]]
    # drop the edges of an export's black fill (rotated frames): dark on one side all along
    keep = []
    gray = cv2.medianBlur(gray, 5)          # the exports sprinkle salt-and-pepper noise on the fill
    for x1, y1, x2, y2 in lines:
        t = np.linspace(0, 1, 12)
        xs, ys = x1 + (x2 - x1) * t, (y1 + (y2 - y1) * t).astype(int).clip(0, H - 1)
        left = gray[ys, np.clip(xs - 4, 0, W - 1).astype(int)]
        right = gray[ys, np.clip(xs + 4, 0, W - 1).astype(int)]
        keep.append(not ((left < 20).mean() > 0.6 or (right < 20).mean() > 0.6))
    return lines[np.array(keep, bool)] if len(lines) else lines


def _ground_colours(image: np.ndarray) -> np.ndarray:
    """Mean Lab colours of cells of the frame's lower third (what the road or pavement looks like)."""
    H = image.shape[0]
    lab = cv2.cvtColor(image[int(0.65 * H):], cv2.COLOR_BGR2LAB).astype(np.float32)
    cells = [c for band in np.array_split(lab, 3, axis=0) for c in np.array_split(band, 8, axis=1) if c.size]
    return np.array([c.reshape(-1, 3).mean(0) for c in cells], np.float32)


def _like_ground(patch_bgr: np.ndarray, ground: np.ndarray) -> bool:
    if patch_bgr.size == 0:
        return True
    lab = cv2.cvtColor(patch_bgr, cv2.COLOR_BGR2LAB).reshape(-1, 3).astype(np.float32).mean(0)
    return bool(np.sqrt((((ground - lab) * [0.5, 1.0, 1.0]) ** 2).sum(1)).min() < 12)


def _overlaps(box: np.ndarray, boxes: np.ndarray, pad: float = 2.0) -> np.ndarray:
    if boxes is None or len(boxes) == 0:
        return np.zeros(0, bool)
    b = boxes.astype(np.float64)
    return ((np.minimum(box[2], b[:, 2] + pad) - np.maximum(box[0], b[:, 0] - pad) > 0)
            & (np.minimum(box[3], b[:, 3] + pad) - np.maximum(box[1], b[:, 1] - pad) > 0))


def _inside(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    if boxes is None or len(boxes) == 0:
        return np.zeros(0, bool)
    return ((box[0] >= boxes[:, 0]) & (box[1] >= boxes[:, 1]) & (box[2] <= boxes[:, 2]) & (box[3] <= boxes[:, 3]))


def _warp(rgba: np.ndarray, tw: float, th: float, rng: np.random.Generator, tilt: float):
    """Warp the poster to a tw×th quad (small rotation, keystone of a wall seen at an angle).

    Returns premultiplied float32 RGB, float32 alpha, and the integer offset of the canvas
    relative to the quad centre.
    """
    h, w = rgba.shape[:2]
    # pre-shrink to ~2× the target to keep the warp from aliasing
    pre = min(1.0, 2.0 * th / h)
    if pre < 1.0:
        rgba = cv2.resize(rgba, (max(2, int(w * pre)), max(2, int(h * pre))), interpolation=cv2.INTER_AREA)
        h, w = rgba.shape[:2]
    angle = np.deg2rad(rng.normal(0, 2.5) if rng.random() < 0.85 else rng.uniform(-15, 15))
    keystone = tilt
    corners = np.array([[-tw / 2, -th / 2 * (1 - keystone)], [tw / 2, -th / 2 * (1 + keystone)],
                        [tw / 2, th / 2 * (1 + keystone)], [-tw / 2, th / 2 * (1 - keystone)]], np.float32)
    corners += rng.normal(0, 0.025, (4, 2)).astype(np.float32) * np.array([tw, th], np.float32)
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]], np.float32)
    corners = corners @ rot.T
    x0, y0 = np.floor(corners.min(0)) - 2
    x1, y1 = np.ceil(corners.max(0)) + 2
    cw, ch = int(x1 - x0), int(y1 - y0)
    dst = corners - np.array([x0, y0], np.float32)
    src = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
    m = cv2.getPerspectiveTransform(src, dst)
    a = rgba[..., 3:].astype(np.float32) / 255
    pm = np.concatenate([rgba[..., :3].astype(np.float32) * a, a * 255], axis=2)
    out = cv2.warpPerspective(pm, m, (cw, ch), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                              borderValue=(0, 0, 0, 0))
    return out[..., :3], out[..., 3] / 255, (int(x0), int(y0))


def _composite(image: np.ndarray, rgba: np.ndarray, cx: float, cy: float, tw: float, th: float,
               rng: np.random.Generator, tilt: float, gray_world: np.ndarray):
    """Light, blur, noise and blend one poster into `image` (in place). Returns (x0, y0, alpha)."""
    H, W = image.shape[:2]
    pm, alpha, (ox, oy) = _warp(rgba, tw, th, rng, tilt)
    x0, y0 = int(round(cx)) + ox, int(round(cy)) + oy
    ch, cw = alpha.shape
    # clip the canvas to the image
    sx0, sy0 = max(0, -x0), max(0, -y0)
    sx1, sy1 = min(cw, W - x0), min(ch, H - y0)
    if sx1 <= sx0 or sy1 <= sy0:
        return None
    pm, alpha = pm[sy0:sy1, sx0:sx1], alpha[sy0:sy1, sx0:sx1]
    x0, y0 = x0 + sx0, y0 + sy0
    ch, cw = alpha.shape
    bg = image[y0:y0 + ch, x0:x0 + cw].astype(np.float32)
    # lighting: the wall's brightness around the poster sets the illumination
    ring = image[max(0, y0 - ch // 2):min(H, y0 + ch + ch // 2), max(0, x0 - cw // 2):min(W, x0 + cw + cw // 2)]
    ring_lum = cv2.cvtColor(ring, cv2.COLOR_BGR2GRAY).astype(np.float32)
    wall = float(np.median(ring_lum))
    albedo = rng.uniform(0.35, 0.7)             # the wall's unknown reflectance
    gain = float(np.clip(wall / (albedo * 255), 0.22, 1.12))
    local = cv2.cvtColor(bg.astype(np.uint8), cv2.COLOR_BGR2GRAY).astype(np.float32)
    sigma = max(1.0, min(ch, cw) / 3)
    local = cv2.GaussianBlur(local, (0, 0), sigma)
    shade = np.clip((local / max(wall, 1.0)) ** 0.6, 0.55, 1.35)
    cast = np.clip(gray_world ** 0.5, 0.85, 1.15)
    with np.errstate(invalid="ignore", divide="ignore"):
        rgb = np.where(alpha[..., None] > 1e-3, pm[..., ::-1].copy() / np.maximum(alpha[..., None], 1e-3), 0)
    # printed paper outdoors: less saturated and lower contrast than the rendering
    grey = rgb.mean(axis=2, keepdims=True)
    sat = rng.uniform(0.55, 0.9)
    rgb = grey + (rgb - grey) * sat
    rgb = 18 + rgb * (1 - 18 / 255 - rng.uniform(0.0, 0.08))
    bgr = rgb[..., ::-1] * gain * shade[..., None] * cast[None, None, :]
    # a faint specular sheen on glossy paper
    if rng.random() < 0.15:
        bgr += rng.uniform(5, 25) * np.clip(_low_noise(ch, cw, 2, rng), 0, None)[..., None]
    # blur: optics and motion of a street camera at this distance
    blur = rng.uniform(0.0, 0.9) if rng.random() < 0.8 else rng.uniform(0.9, 1.8)
    if blur > 0.25:
        pm_b = cv2.GaussianBlur(bgr * alpha[..., None], (0, 0), blur)
        alpha = cv2.GaussianBlur(alpha, (0, 0), blur)
        bgr = pm_b / np.maximum(alpha[..., None], 1e-3)
    bgr += rng.normal(0, rng.uniform(1, 4), bgr.shape).astype(np.float32)
    a = alpha[..., None]
    out = bg * (1 - a) + np.clip(bgr, 0, 255) * a
    image[y0:y0 + ch, x0:x0 + cw] = np.clip(out, 0, 255).astype(np.uint8)
    return x0, y0, alpha


def _jpeg_patch(image: np.ndarray, original: np.ndarray, box: tuple[int, int, int, int], mask: np.ndarray,
                quality: int) -> None:
    """Re-encode the poster's patch as JPEG and keep the result only where the poster is."""
    x0, y0, x1, y1 = box
    patch = image[y0:y1, x0:x1]
    if patch.size == 0:
        return
    ok, enc = cv2.imencode(".jpg", patch, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        return
    dec = cv2.imdecode(enc, cv2.IMREAD_COLOR).astype(np.float32)
    m = mask[..., None].astype(np.float32)
    image[y0:y1, x0:x1] = np.clip(dec * m + patch.astype(np.float32) * (1 - m), 0, 255).astype(np.uint8)


def add_posters(image: np.ndarray, avoid_boxes: np.ndarray, rng: np.random.Generator, font: Path,
                hint_boxes: np.ndarray | None = None, max_posters: int = 4,
                door_boxes: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Composite 1..max_posters fly-posters onto `image` (BGR uint8).

    avoid_boxes: (n, 4) xyxy pixels that must stay uncovered (shop signs, window ads, other objects).
    hint_boxes: (m, 4) doors and windows: they set the scale; posters rarely go over them.
    door_boxes: optional subset of the hints that are doors: posters may go on them freely.
    Returns the new image and (k, 4) float32 xyxy boxes of the visible posters (k may be 0).
    """
    image = np.ascontiguousarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"add_posters needs a BGR uint8 image, got {image.dtype} {image.shape}")
    H, W = image.shape[:2]
    avoid = np.asarray(avoid_boxes if avoid_boxes is not None else np.zeros((0, 4)), np.float64).reshape(-1, 4)
    hints = None if hint_boxes is None else np.asarray(hint_boxes, np.float64).reshape(-1, 4)
    doors = None if door_boxes is None else np.asarray(door_boxes, np.float64).reshape(-1, 4)
    out = image.copy()
    if max_posters < 1:
        return out, np.zeros((0, 4), np.float32)

    has_hints = hints is not None and bool(len(hints))
    ground_colours = _ground_colours(image)
    verticals = np.zeros((0, 4)) if has_hints else _vertical_lines(image)
    ground_mask = None if has_hints or not len(verticals) else ground_mask_of(image)
    ppm = _px_per_metre(W, hints, rng)
    ground = _ground_y(H, hints, rng)
    gray_world = image.reshape(-1, 3).mean(0).astype(np.float32)
    gray_world = gray_world / max(float(gray_world.mean()), 1.0)
    tilt = rng.normal(0, 0.05)                  # the wall's angle to the camera, same for the frame
    min_long, min_short = max(7.0, W / 110), max(4.0, W / 260)

    n = int(rng.integers(1, max_posters + 1))
    owner = np.full((H, W), -1, np.int16)
    placed_area: list[int] = []
    jpeg_q: list[int] = []
    patches: list[tuple[int, int, int, int]] = []
    cluster_anchor = None
    cluster_left = 0
    if n >= 2 and rng.random() < 0.4:
        cluster_left = int(rng.integers(2, n + 1))
    closer = rng.random() < 0.25               # this frame's camera is close to its wall

    for _ in range(n):
        poster = _render(rng, font, 64)
        scale = rng.uniform(1.5, 3.0) if (closer or rng.random() < 0.1) else 1.0
        th = poster.height_m * ppm * scale
        aspect = poster.rgba.shape[1] / poster.rgba.shape[0]
        tw = th * aspect
        # never below what a detector could possibly see; never absurdly large
        grow = max(min_long / max(tw, th), min_short / max(min(tw, th), 1e-6), 1.0)
        tw, th = tw * grow, th * grow
        shrink = min(1.0, 0.35 * H / th, 0.35 * W / tw)
        tw, th = tw * shrink, th * shrink
        # re-render at a resolution that keeps the text crisp before the warp shrinks it
        render_h = int(np.clip(th * 2.5, 40, 320))
        poster = _render(rng, font, render_h, kind=poster.kind) if render_h != 64 else poster
        aspect = poster.rgba.shape[1] / poster.rgba.shape[0]
        tw = th * aspect
        if tw > 0.5 * W:
            th, tw = th * 0.5 * W / tw, 0.5 * W
        in_cluster = cluster_left > 0
        placed = None
        for _try in range(40):
            if in_cluster and cluster_anchor is not None:
                cx = cluster_anchor[0] + rng.normal(0, 0.6) * max(tw, cluster_anchor[2])
                cy = cluster_anchor[1] + rng.normal(0, 0.5) * max(th, cluster_anchor[3])
            else:
                cx = rng.uniform(tw / 2 + 1, W - tw / 2 - 1) if W > tw + 2 else W / 2
                if not has_hints:                 # a street frame: on a pole or a wall edge
                    if not len(verticals):
                        break
                    x1_, y1_, x2_, y2_ = verticals[int(rng.integers(0, len(verticals)))]
                    t = rng.uniform(0.25, 1.0)        # the lower part of the line: within reach
                    cy = y1_ + (y2_ - y1_) * t
                    cx = x1_ + (x2_ - x1_) * t + rng.normal(0, 0.25) * tw
                elif rng.random() < 0.92:         # within reach from the pavement
                    cy = ground - rng.uniform(0.3, 2.4) * ppm
                else:                             # higher up (from a ladder, or a balcony)
                    lo, hi = max(th / 2, 0.3 * H), min(H - th / 2, ground - 0.3 * ppm)
                    cy = rng.uniform(lo, hi) if hi > lo else ground - rng.uniform(0.3, 2.4) * ppm
            box = np.array([cx - tw * 0.6, cy - th * 0.6, cx + tw * 0.6, cy + th * 0.6])
            if box[0] < 0 or box[1] < 0 or box[2] > W - 1 or box[3] > H - 1:
                continue
            if _overlaps(box, avoid).any():
                continue
            hit = _overlaps(box, hints, pad=0) if hints is not None else np.zeros(0, bool)
            if hit.any():
                on_door = doors is not None and len(doors) and _inside(box, doors).any()
                if not on_door and rng.random() < 0.95:
                    continue
            ib = box.astype(int)
            if _bad_surface(image[ib[1]:ib[3], ib[0]:ib[2]], cy / H):
                continue
            if not has_hints and (_like_ground(image[ib[1]:ib[3], ib[0]:ib[2]], ground_colours)
                                  or ground_mask[ib[1]:ib[3], ib[0]:ib[2]].mean() > 0.3):
                continue                          # the road or pavement, not a wall
            placed = (cx, cy)
            break
        if placed is None:
            continue
        if in_cluster:
            cluster_left -= 1
            if cluster_anchor is None:
                cluster_anchor = (placed[0], placed[1], tw, th)
        aged = _age(poster, rng)
        res = _composite(out, aged, placed[0], placed[1], tw, th, rng, tilt, gray_world)
        if res is None:
            continue
        x0, y0, alpha = res
        ch, cw = alpha.shape
        idx = len(placed_area)
        solid = alpha > 0.5
        region = owner[y0:y0 + ch, x0:x0 + cw]
        region[solid] = idx
        placed_area.append(int(solid.sum()))
        patches.append((x0, y0, x0 + cw, y0 + ch))
        # mostly near the sources' own quality (90): a blockier patch than its frame would be a tell
        jpeg_q.append(int(rng.integers(70, 96)) if rng.random() < 0.85 else int(rng.integers(45, 70)))

    # JPEG artefacts on each poster (only where a poster is; the rest of the frame is untouched)
    for idx, (x0, y0, x1, y1) in enumerate(patches):
        mask = owner[y0:y1, x0:x1] == idx
        if mask.any():
            _jpeg_patch(out, image, (x0, y0, x1, y1), mask, jpeg_q[idx])
    if patches:
        add_speckle(out, owner >= 0, speckle_density(image), rng)    # the export's salt-and-pepper

    boxes = []
    for idx, (x0, y0, x1, y1) in enumerate(patches):
        ys, xs = np.nonzero(owner[y0:y1, x0:x1] == idx)
        if len(xs) < 6 or len(xs) < 0.3 * max(placed_area[idx], 1):
            continue
        b = np.array([x0 + xs.min(), y0 + ys.min(), x0 + xs.max() + 1, y0 + ys.max() + 1], np.float32)
        if b[2] - b[0] < 2 or b[3] - b[1] < 2:
            continue
        boxes.append(b)
    boxes_arr = np.array(boxes, np.float32).reshape(-1, 4)
    boxes_arr[:, [0, 2]] = np.clip(boxes_arr[:, [0, 2]], 0, W)
    boxes_arr[:, [1, 3]] = np.clip(boxes_arr[:, [1, 3]], 0, H)
    boxes_arr = boxes_arr[box_area(boxes_arr) > 0]
    return out, boxes_arr
