"""The COCO API that mmdet 2.x expects, on top of pycocotools from PyPI.

mmdet 2.x was written against mmpycocotools, a fork that adds snake_case names to
pycocotools' COCO class. The fork does not build with numpy 2, so npuport adds those
names here instead; the recipes' patched dataset modules import COCO from here. Written for npuport; no code taken from the fork.
"""
import json

from pycocotools.coco import COCO as _PyCOCO

from npuport.errors import UsageError


class COCO(_PyCOCO):
    """pycocotools' COCO with the snake_case methods and index names mmdet calls."""

    def __init__(self, annotation_file=None):
        try:
            super().__init__(annotation_file)
        except json.JSONDecodeError as exc:  # mmcv's registry would re-raise it as a TypeError
            raise UsageError(f"annotation file {annotation_file}: not valid JSON ({exc.msg} at line {exc.lineno} "
                             f"column {exc.colno}); regenerate it (npuport data synth --format coco) or fix it") from None

    def createIndex(self):  # noqa: N802 (pycocotools' name)
        super().createIndex()
        self.img_ann_map = self.imgToAnns
        self.cat_img_map = self.catToImgs

    def get_ann_ids(self, img_ids=(), cat_ids=(), area_rng=(), iscrowd=None):
        return self.getAnnIds(list(_as_list(img_ids)), list(_as_list(cat_ids)), list(area_rng), iscrowd)

    def get_cat_ids(self, cat_names=(), sup_names=(), cat_ids=()):
        return self.getCatIds(list(_as_list(cat_names)), list(_as_list(sup_names)), list(_as_list(cat_ids)))

    def get_img_ids(self, img_ids=(), cat_ids=()):
        return self.getImgIds(list(_as_list(img_ids)), list(_as_list(cat_ids)))

    def load_anns(self, ids):
        return self.loadAnns(ids)

    def load_cats(self, ids):
        return self.loadCats(ids)

    def load_imgs(self, ids):
        return self.loadImgs(ids)


def _as_list(value):
    if isinstance(value, (list, tuple)):
        return value
    return [value]
