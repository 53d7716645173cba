"""A small COCO-format detection / instance-segmentation set of simple shapes.

Layout, as mmdet's CocoDataset expects it::

    out/annotations/instances_train2017.json   out/train2017/000000000001.jpg ...
    out/annotations/instances_val2017.json     out/val2017/000000001001.jpg ...

Each shape is drawn from the same polygon that the annotation records, and shapes never overlap, so every
polygon is exactly the visible object. The categories carry real COCO ids and names, so stock 80-class
configs load them without a `classes=` override.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from npuport.data.coco_categories import COCO_CATEGORIES
from npuport.data.staging import SynthReport, count_files, staged
from npuport.errors import UsageError

# (shape drawn, COCO category id, name, supercategory)
CATEGORIES = (
    ("rectangle", 84, "book", "indoor"),
    ("ellipse", 85, "clock", "indoor"),
    ("triangle", 38, "kite", "sports"),
)
SPLITS = ("train2017", "val2017")
JPEG_QUALITY = 90
VAL_ID_OFFSET = 1_000_000  # val image ids never collide with train ids
DEFAULT_OBJECTS = (2, 5)  # shapes per image, fewest and most
MAX_OBJECTS = 50


def synth_coco(out: Path, images: int = 16, size: int = 320, seed: int = 0,
               val_images: int | None = None, objects: tuple[int, int] = DEFAULT_OBJECTS) -> SynthReport:
    """Write `images` training and `val_images` (default images // 4, at least 1) validation images, each with
    `objects` = (fewest, most) shapes (fewer where no free place is found)."""
    val_images = max(1, images // 4) if val_images is None else val_images
    if images < 1 or val_images < 1:
        raise UsageError(f"synth coco: images ({images}) and val images ({val_images}) must be at least 1")
    if not 64 <= size <= 4096:
        raise UsageError(f"synth coco: image size {size} is out of range: choose 64..4096 pixels")
    lo, hi = objects
    if not 1 <= lo <= hi <= MAX_OBJECTS:
        raise UsageError(f"synth coco: objects per image {lo}-{hi} is out of range: give MIN-MAX with "
                         f"1 <= MIN <= MAX <= {MAX_OBJECTS}, e.g. --objects 2-5")
    out = Path(out)
    marker = {"format": "coco", "seed": seed, "images": images, "val_images": val_images, "size": size}
    if tuple(objects) != DEFAULT_OBJECTS:  # the default's marker stays as before, so its sets are reused
        marker["objects"] = [lo, hi]
    with staged(out, marker) as tmp:
        (tmp / "annotations").mkdir()
        for index, (split, count) in enumerate(zip(SPLITS, (images, val_images))):
            rng = np.random.default_rng([seed, index])
            first_id = 1 + index * VAL_ID_OFFSET
            doc = write_split(tmp / split, rng, count, size, first_id, (lo, hi))
            text = json.dumps(doc, separators=(",", ":"))
            (tmp / "annotations" / f"instances_{split}.json").write_text(text + "\n")
    return SynthReport("coco", out, seed, {"train": images, "val": val_images}, count_files(out))


def write_split(folder: Path, rng: np.random.Generator, count: int, size: int, first_id: int,
                objects: tuple[int, int] = DEFAULT_OBJECTS) -> dict:
    """Draw `count` images into `folder` and return the split's COCO annotation document."""
    from PIL import Image, ImageDraw

    folder.mkdir()
    images, annotations = [], []
    for image_id in range(first_id, first_id + count):
        canvas = background(rng, size)
        img = Image.fromarray(canvas)
        draw = ImageDraw.Draw(img)
        for kind, polygon in place_shapes(rng, size, objects):
            draw.polygon([tuple(p) for p in polygon], fill=shape_colour(rng))
            annotations.append(annotation(len(annotations) + first_id, image_id, kind, polygon))
        pixels = np.asarray(img, dtype=np.int16) + rng.normal(0, 6, (size, size, 3)).astype(np.int16)
        file_name = f"{image_id:012d}.jpg"
        Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(
            folder / file_name, format="JPEG", quality=JPEG_QUALITY)
        images.append({"id": image_id, "file_name": file_name, "width": size, "height": size, "license": 1})
    return {
        "info": {"description": "npuport generated shapes in COCO format", "version": "1.0",
                 "contributor": "npuport", "url": "", "year": 2017, "date_created": "2017/01/01"},
        "licenses": [{"id": 1, "name": "CC0 1.0", "url": "https://creativecommons.org/publicdomain/zero/1.0/"}],
        "images": images,
        "annotations": annotations,
        "categories": [{"id": cid, "name": name, "supercategory": sup} for cid, name, sup in COCO_CATEGORIES],
    }


def background(rng: np.random.Generator, size: int) -> np.ndarray:
    """A smooth, low-saturation texture: a coarse random grid upsampled to the image size."""
    from PIL import Image

    level = rng.uniform(70, 180)
    grid = level + rng.uniform(-35, 35, (6, 6, 1)) + rng.uniform(-12, 12, (6, 6, 3))
    small = Image.fromarray(np.clip(grid, 0, 255).astype(np.uint8))
    return np.asarray(small.resize((size, size), Image.BILINEAR)).copy()


def shape_colour(rng: np.random.Generator) -> tuple[int, int, int]:
    """A saturated colour, which stands out from the grey background."""
    hue, sat, val = rng.uniform(0, 6), rng.uniform(0.65, 1.0), rng.uniform(0.45, 1.0)
    i, f = int(hue), hue - int(hue)
    p, q, t = val * (1 - sat), val * (1 - sat * f), val * (1 - sat * (1 - f))
    rgb = [(val, t, p), (q, val, p), (p, val, t), (p, q, val), (t, p, val), (val, p, q)][i % 6]
    return tuple(int(round(255 * c)) for c in rgb)


def place_shapes(rng: np.random.Generator, size: int,
                 objects: tuple[int, int] = DEFAULT_OBJECTS) -> list[tuple[int, np.ndarray]]:
    """`objects` = (fewest, most) non-overlapping shapes: (category index, polygon as an (N, 2) array of x, y).
    Beyond five a shape's size shrinks with the square root of the count, so the image still holds them."""
    placed: list[tuple[int, np.ndarray]] = []
    boxes: list[tuple[float, float, float, float]] = []
    shrink = min(1.0, (DEFAULT_OBJECTS[1] / objects[1]) ** 0.5)
    for _ in range(int(rng.integers(objects[0], objects[1] + 1))):
        for _attempt in range(30):
            kind = int(rng.integers(len(CATEGORIES)))
            radius = rng.uniform(0.06, 0.18) * size * shrink
            centre = rng.uniform(radius + 2, size - radius - 2, 2)
            polygon = np.round(make_polygon(rng, kind, centre, radius), 2)
            x0, y0 = polygon.min(0) - 3
            x1, y1 = polygon.max(0) + 3
            if all(x1 < a or x0 > c or y1 < b or y0 > d for a, b, c, d in boxes):
                placed.append((kind, polygon))
                boxes.append((x0, y0, x1, y1))
                break
    return placed


def make_polygon(rng: np.random.Generator, kind: int, centre: np.ndarray, radius: float) -> np.ndarray:
    """The outline of one shape that fits in a circle of `radius` around `centre`."""
    angle = rng.uniform(0, np.pi)
    name = CATEGORIES[kind][0]
    if name == "rectangle":
        half = radius * np.array([rng.uniform(0.5, 0.7), rng.uniform(0.5, 0.7)])
        corners = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]]) * half
        angle = rng.uniform(-0.4, 0.4)
    elif name == "ellipse":
        t = np.linspace(0, 2 * np.pi, 32, endpoint=False)
        corners = np.stack([np.cos(t) * radius, np.sin(t) * radius * rng.uniform(0.5, 1.0)], 1)
    else:
        t = np.pi / 2 + np.array([0, 2, 4]) * np.pi / 3 + rng.uniform(-0.3, 0.3, 3)
        corners = np.stack([np.cos(t), np.sin(t)], 1) * radius
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    return corners @ rot.T + centre


def annotation(ann_id: int, image_id: int, kind: int, polygon: np.ndarray) -> dict:
    """The COCO record of one polygon: bbox [x, y, w, h] and the polygon's area."""
    x, y = polygon[:, 0], polygon[:, 1]
    area = 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))
    x0, y0 = float(x.min()), float(y.min())
    return {
        "id": ann_id,
        "image_id": image_id,
        "category_id": CATEGORIES[kind][1],
        "segmentation": [[round(float(v), 2) for v in polygon.reshape(-1)]],
        "area": round(area, 2),
        "bbox": [round(x0, 2), round(y0, 2), round(float(x.max()) - x0, 2), round(float(y.max()) - y0, 2)],
        "iscrowd": 0,
    }


def train_split_as_val(src: Path, out: Path) -> Path:
    """A copy of the COCO set at `src` whose val split is its train split: evaluate what the model was trained on."""
    shutil.copytree(src, out, dirs_exist_ok=True)
    shutil.rmtree(out / "val2017")
    shutil.copytree(out / "train2017", out / "val2017")
    shutil.copy(out / "annotations" / "instances_train2017.json", out / "annotations" / "instances_val2017.json")
    return out
