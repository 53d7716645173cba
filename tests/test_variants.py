"""The dynamic variant of a recipe (npuport.recipe.variants): no static-* steps, no config line they need."""

from __future__ import annotations

from npuport.recipe import load
from npuport.recipe.variants import without_static_lines, write_dynamic


def test_marked_config_lines_are_left_out_and_nothing_else():
    text = ("custom_imports = dict(imports=['x'])  # npuport-static\n"
            "pipeline = [\n"
            "    dict(type='Pad'),\n"
            "    dict(type='PadGroundTruth', num=100),  # npuport-static: static-host-gt-padding\n"
            "]\n"
            "# a comment that names npuport-static stays\n"
            "x = 1  # npuport-statics is another word\n")
    assert without_static_lines(text) == ("pipeline = [\n"
                                          "    dict(type='Pad'),\n"
                                          "]\n"
                                          "# a comment that names npuport-static stays\n"
                                          "x = 1  # npuport-statics is another word\n")


def test_gcnet_dynamic_variant_drops_its_static_steps_and_config_lines(tmp_path):
    out = write_dynamic("gcnet", tmp_path)
    recipe = (out / "gcnet" / "recipe.toml").read_text()
    assert "static-" not in recipe and "[train]" in recipe
    shipped = load("gcnet")
    config = (out / "gcnet" / shipped.train.config).read_text()
    original = (shipped.folder / shipped.train.config).read_text()
    for words in ("PadGroundTruth", "custom_imports", "mask_pos_slots", "meta_keys"):
        assert words in original and words not in config
    compile(config, "config.py", "exec")  # still a config
    assert len(original.splitlines()) - len(config.splitlines()) == 4
