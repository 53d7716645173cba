"""Generated data sets: real layouts, loadable by the real readers, deterministic, staged safely."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest

from npuport.data import synth
from npuport.data.cifar10 import LABEL_NAMES, load_cifar10, synth_cifar10
from npuport.data.coco import synth_coco
from npuport.data.staging import MARKER
from npuport.errors import UsageError

pycocotools_coco = pytest.importorskip("pycocotools.coco")
Image = pytest.importorskip("PIL.Image")


def tree_bytes(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def coco(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("coco") / "set"
    report = synth_coco(out, images=4, size=128, seed=3, val_images=2)
    assert report.splits == {"train": 4, "val": 2} and report.files == 4 + 2 + 2 + 1
    return out


@pytest.fixture(scope="module")
def cifar(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("cifar") / "set"
    synth_cifar10(out, train=50, test=20, seed=1)
    return out


# pycocotools 2.0.x with numpy 2 warns inside its own mask decoding; not ours to fix
@pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")
def test_coco_layout_and_pycocotools(coco: Path) -> None:
    for split, count in (("train2017", 4), ("val2017", 2)):
        api = pycocotools_coco.COCO(str(coco / "annotations" / f"instances_{split}.json"))
        assert len(api.getImgIds()) == count
        assert len(api.getCatIds()) == 80  # all of COCO's, as in the real files
        used = {a["category_id"] for a in api.dataset["annotations"]}
        assert used <= {38, 84, 85} and len(used) >= 2
        assert api.getCatIds(catNms=["book"]) == [84]
        ann_ids = api.getAnnIds()
        assert len(ann_ids) >= 2 * count
        for ann in api.loadAnns(ann_ids):
            img = api.loadImgs(ann["image_id"])[0]
            mask = api.annToMask(ann)
            assert mask.shape == (img["height"], img["width"])
            assert ann["iscrowd"] == 0 and len(ann["segmentation"][0]) >= 6
            assert abs(mask.sum() - ann["area"]) <= 0.05 * ann["area"] + 4, ann
            ys, xs = np.nonzero(mask)
            x, y, w, h = ann["bbox"]
            assert abs(xs.min() - x) <= 1.5 and abs(ys.min() - y) <= 1.5
            assert abs(xs.max() + 1 - (x + w)) <= 1.5 and abs(ys.max() + 1 - (y + h)) <= 1.5


def test_coco_images_open_with_declared_size(coco: Path) -> None:
    doc = json.loads((coco / "annotations" / "instances_val2017.json").read_text())
    assert {"info", "licenses", "images", "annotations", "categories"} <= set(doc)
    for img in doc["images"]:
        with Image.open(coco / "val2017" / img["file_name"]) as im:
            assert im.format == "JPEG" and im.size == (img["width"], img["height"]) == (128, 128)
    train_ids = {i["id"] for i in json.loads((coco / "annotations" / "instances_train2017.json").read_text())["images"]}
    assert train_ids.isdisjoint(i["id"] for i in doc["images"])


def test_coco_is_deterministic(coco: Path, tmp_path: Path) -> None:
    synth_coco(tmp_path / "again", images=4, size=128, seed=3, val_images=2)
    assert tree_bytes(tmp_path / "again") == tree_bytes(coco)
    synth_coco(tmp_path / "other", images=4, size=128, seed=4, val_images=2)
    other = tree_bytes(tmp_path / "other")
    assert other.keys() == tree_bytes(coco).keys()
    assert other["train2017/000000000001.jpg"] != tree_bytes(coco)["train2017/000000000001.jpg"]


def test_cifar_batches_load_with_plain_pickle(cifar: Path) -> None:
    folder = cifar / "cifar-10-batches-py"
    names = sorted(p.name for p in folder.iterdir())
    assert names == ["batches.meta", "data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4",
                     "data_batch_5", "test_batch"]
    total = 0
    for name in names[1:]:
        with open(folder / name, "rb") as f:
            batch = pickle.load(f, encoding="bytes")
        assert set(batch) == {b"data", b"labels", b"batch_label", b"filenames"}
        data, labels = batch[b"data"], batch[b"labels"]
        assert data.dtype == np.uint8 and data.shape == (len(labels), 3072)
        assert all(isinstance(v, int) and 0 <= v < 10 for v in labels)
        assert len(batch[b"filenames"]) == len(labels) and isinstance(batch[b"batch_label"], bytes)
        total += len(labels)
    assert total == 70
    with open(folder / "batches.meta", "rb") as f:
        meta = pickle.load(f, encoding="bytes")
    assert meta[b"label_names"] == [n.encode() for n in LABEL_NAMES] and meta[b"num_vis"] == 3072
    # torchvision reads with encoding="latin1" and str keys, as it does the real Python 2 pickles
    with open(folder / "data_batch_1", "rb") as f:
        entry = pickle.load(f, encoding="latin1")
    assert isinstance(entry["data"], np.ndarray) and entry["data"].shape == (10, 3072)


def test_load_cifar10_and_determinism(cifar: Path, tmp_path: Path) -> None:
    x_train, y_train, x_test, y_test = load_cifar10(cifar)
    assert x_train.shape == (50, 3, 32, 32) and x_test.shape == (20, 3, 32, 32)
    assert np.bincount(y_train, minlength=10).tolist() == [5] * 10
    assert load_cifar10(cifar / "cifar-10-batches-py")[0].tobytes() == x_train.tobytes()
    synth_cifar10(tmp_path / "again", train=50, test=20, seed=1)
    assert tree_bytes(tmp_path / "again") == tree_bytes(cifar)
    synth_cifar10(tmp_path / "other", train=50, test=20, seed=2)
    assert tree_bytes(tmp_path / "other")["cifar-10-batches-py/test_batch"] != \
        tree_bytes(cifar)["cifar-10-batches-py/test_batch"]


def test_cifar_classes_are_separable(tmp_path: Path) -> None:
    """A nearest-class-mean classifier on the images is far above the 10% of chance."""
    synth_cifar10(tmp_path / "c", train=500, test=200, seed=0)
    x_train, y_train, x_test, y_test = load_cifar10(tmp_path / "c")

    def features(x: np.ndarray) -> np.ndarray:  # colour means and a coarse power spectrum
        x = x.astype(np.float32) / 255
        spectrum = np.abs(np.fft.fft2(x.mean(1)))[:, :8, :8].reshape(len(x), -1)
        return np.concatenate([x.mean((2, 3)), np.log1p(spectrum)], 1)

    f_train, f_test = features(x_train), features(x_test)
    mu, sd = f_train.mean(0), f_train.std(0) + 1e-6
    f_train, f_test = (f_train - mu) / sd, (f_test - mu) / sd
    means = np.stack([f_train[y_train == c].mean(0) for c in range(10)])
    predicted = np.argmin(((f_test[:, None] - means[None]) ** 2).sum(-1), 1)
    assert (predicted == y_test).mean() > 0.4, (predicted == y_test).mean()


def test_refuses_foreign_folder_and_replaces_own(tmp_path: Path) -> None:
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "thesis.tex").write_text("precious")
    with pytest.raises(UsageError, match="not empty"):
        synth_cifar10(foreign, train=10, test=10)
    assert [p.name for p in foreign.iterdir()] == ["thesis.tex"]
    with pytest.raises(UsageError, match="not a folder"):
        synth_coco(foreign / "thesis.tex", images=1, size=64)

    out = tmp_path / "gen"
    synth_cifar10(out, train=10, test=10, seed=0)
    first = tree_bytes(out)
    synth_cifar10(out, train=20, test=10, seed=0)  # a previous synth output is replaced whole
    assert tree_bytes(out) != first and (out / MARKER).is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gen", "mine"]  # no staging left behind

    empty = tmp_path / "empty"
    empty.mkdir()
    synth("coco", empty)
    assert (empty / "annotations" / "instances_train2017.json").is_file()


def test_bad_arguments_are_usage_errors(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="unknown data format"):
        synth("imagenet", tmp_path / "x")
    with pytest.raises(UsageError, match="size"):
        synth_coco(tmp_path / "x", size=16)
    with pytest.raises(UsageError):
        synth_cifar10(tmp_path / "x", train=2)
    assert not (tmp_path / "x").exists()


def per_image(root: Path) -> list[int]:
    doc = json.loads((root / "annotations" / "instances_train2017.json").read_text())
    counts = {img["id"]: 0 for img in doc["images"]}
    for ann in doc["annotations"]:
        counts[ann["image_id"]] += 1
    return list(counts.values())


def test_objects_per_image_for_a_coco_density(tmp_path: Path, coco: Path) -> None:
    """--objects MIN-MAX: every image holds that many shapes, still apart; the default set is unchanged."""
    dense = tmp_path / "dense"
    synth_coco(dense, images=8, size=256, seed=3, objects=(8, 14))
    counts = per_image(dense)
    assert all(8 <= n <= 14 for n in counts) and sum(counts) / len(counts) > 9, counts
    doc = json.loads((dense / "annotations" / "instances_train2017.json").read_text())
    boxes = {}
    for ann in doc["annotations"]:
        boxes.setdefault(ann["image_id"], []).append(ann["bbox"])
    for image_boxes in boxes.values():  # shapes never overlap, so each polygon is the whole visible object
        for i, (x, y, w, h) in enumerate(image_boxes):
            for u, v, s, t in image_boxes[i + 1:]:
                assert x + w < u or u + s < x or y + h < v or v + t < y
    assert json.loads((dense / MARKER).read_text())["objects"] == [8, 14]
    assert "objects" not in json.loads((coco / MARKER).read_text())  # default sets keep their marker
    assert all(2 <= n <= 5 for n in per_image(coco))
    synth("coco", tmp_path / "cli", images=2, size=128, objects="3")
    assert per_image(tmp_path / "cli") == [3, 3]


@pytest.mark.parametrize("objects", ["0-4", "9-3", "51", "two", "2-x"])
def test_bad_object_counts_are_usage_errors(tmp_path: Path, objects: str) -> None:
    with pytest.raises(UsageError, match="--objects|objects per image"):
        synth("coco", tmp_path / "x", objects=objects)
    assert not (tmp_path / "x").exists()
