"""Recipe configs: upstream's own file plus npuport's overrides (npuport/drivers/mmdet_config.py, [train] config
and overrides in recipe.toml). The merge and the data-root move are plain-dict code and run without mmcv; the
recipes' train tests load the real configs in their workspaces."""
from __future__ import annotations

from pathlib import Path

import pytest

from npuport.drivers import mmdet_config
from npuport.errors import RecipeError, UsageError
from npuport.recipe import load, load_file


def test_merge_updates_dicts_key_by_key_and_replaces_the_rest():
    base = {"model": {"type": "GFL", "bbox_head": {"num_classes": 80, "stacked_convs": 4}},
            "train_cfg": {"assigner": {"type": "ATSSAssigner", "topk": 9}, "debug": False},
            "pipeline": [{"type": "Load"}, {"type": "Resize"}], "total_epochs": 12}
    mmdet_config.merge(base, {"model": {"bbox_head": {"stacked_convs": 2}},
                              "train_cfg": {"assigner": {"_delete_": True, "type": "MaxIoUAssigner"}, "num_gt_pad": 100},
                              "pipeline": [{"type": "Load"}], "runner": {"max_epochs": 12}})
    assert base == {"model": {"type": "GFL", "bbox_head": {"num_classes": 80, "stacked_convs": 2}},
                    "train_cfg": {"assigner": {"type": "MaxIoUAssigner"}, "debug": False, "num_gt_pad": 100},
                    "pipeline": [{"type": "Load"}], "total_epochs": 12, "runner": {"max_epochs": 12}}


class Cfg(dict):
    """What move_data_root reads of an mmcv Config: get(), .data and .data_root."""

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name, value):
        self[name] = value


def test_data_root_moves_every_path_that_starts_with_it():
    cfg = Cfg(data_root="data/coco/", data={
        "train": {"ann_file": "data/coco/annotations/instances_train2017.json", "img_prefix": "data/coco/train2017/",
                  "pipeline": [{"type": "LoadImageFromFile"}]},
        "test": [{"ann_file": "data/coco/annotations/instances_val2017.json", "img_prefix": "elsewhere/val/"}]})
    mmdet_config.move_data_root(cfg, "/d/synth", "c.py")
    assert cfg.data["train"]["ann_file"] == "/d/synth/annotations/instances_train2017.json"
    assert cfg.data["train"]["img_prefix"] == "/d/synth/train2017/"
    assert cfg.data["test"][0] == {"ann_file": "/d/synth/annotations/instances_val2017.json",
                                   "img_prefix": "elsewhere/val/"}
    assert cfg.data_root == "/d/synth/"


@pytest.mark.parametrize("cfg, words", [
    (Cfg(data={"train": {"ann_file": "a.json"}}), "sets no data_root"),
    (Cfg(data_root="data/coco/", data={"train": {"ann_file": "/abs/a.json"}}), "no path of cfg.data starts with"),
])
def test_a_config_whose_paths_cannot_move_is_one_line(cfg, words):
    with pytest.raises(UsageError, match=words):
        mmdet_config.move_data_root(cfg, "/d", "c.py")


@pytest.mark.parametrize("name, source", [("gfocalv2", "gfocalv2"), ("solov2", "solo"), ("gcnet-original", "gcnet")])
def test_the_recipes_with_upstream_configs_run_upstreams_file_with_overrides(name, source):
    recipe = load(name)
    config, flag, overrides = recipe.train.config_files(recipe.folder, lambda s: Path("/ws/src") / s)
    assert config.startswith(f"/ws/src/{source}/configs/") and flag == "--overrides"
    assert Path(overrides).parent == recipe.folder / "config" and Path(overrides).is_file()
    assert len(Path(overrides).read_text().splitlines()) < 45  # what changes, not a reformatted copy


def test_gcnet_keeps_its_own_config_as_mmdets_sdist_has_none():
    recipe = load("gcnet")
    assert recipe.train.config_files(recipe.folder, lambda s: Path("/nowhere")) == [
        str(recipe.folder / recipe.train.config)]


@pytest.mark.parametrize("train, words", [
    ('config = "nosuch:configs/a.py"\noverrides = "o.py"', "must name a source of this recipe"),
    ('config = "up:configs/a.py"\noverrides = "missing.py"', "refers to missing.py"),
    ('config = "c.py"\noverrides = "o.py"', "give train.config as SOURCE:PATH"),
])
def test_bad_train_config_is_a_recipe_error(tmp_path, train, words):
    tmp_path = tmp_path / "demo"
    tmp_path.mkdir()
    (tmp_path / "o.py").write_text("x = 1\n")
    (tmp_path / "c.py").write_text("x = 1\n")
    (tmp_path / "recipe.toml").write_text(
        'name = "demo"\ndescription = "d"\n[[source]]\nname = "up"\nkind = "path"\npath = "."\n'
        f'[train]\ndriver = "npuport.drivers.mmdet_train"\n{train}\n')
    with pytest.raises(RecipeError, match=words):
        load_file(tmp_path / "recipe.toml")
