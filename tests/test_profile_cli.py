"""`npuport profile` input checks (one line, exit 2) and the recipe variant without static steps; the
profile of a real workspace runs in tests/test_gcnet.py."""

from __future__ import annotations

from conftest import run_cli
from demo_recipe import make_recipe, make_upstream


def test_a_recipe_without_a_train_table_has_no_step_to_profile(tmp_path):
    recipes = make_recipe(tmp_path / "recipes", make_upstream(tmp_path / "up"))
    out = run_cli("profile", "demo", "--recipes", str(recipes))
    assert out.returncode == 2
    assert "recipe demo has no [train] table" in out.stderr and len(out.stderr.strip().splitlines()) == 1


def test_bad_numbers_are_usage_errors_before_anything_runs(tmp_path):
    for args, words in [(["--iters", "-1"], "--iters -1"), (["--iters", "5", "--warmup", "7"], "--warmup 7"),
                        (["--warmup", "-2"], "--warmup -2")]:
        out = run_cli("profile", "gcnet", "--workspace", str(tmp_path / "none"), *args)
        assert out.returncode == 2, out.stderr
        assert words in out.stderr and len(out.stderr.strip().splitlines()) == 1


def test_no_workspace_names_the_setup_command(tmp_path):
    out = run_cli("profile", "gcnet", "--workspace", str(tmp_path / "none"), "--device", "cpu")
    assert out.returncode == 2 and "npuport setup gcnet" in out.stderr


def test_the_dynamic_variant_drops_only_the_static_steps(tmp_path):
    from npuport import recipe
    from npuport.recipe.variants import write_dynamic

    shipped = recipe.load("gcnet")
    variant = recipe.load("gcnet", [str(write_dynamic("gcnet", tmp_path))])
    static = [s.id for s in shipped.steps if s.id.startswith("static-")]
    assert len(static) >= 7
    assert [s.id for s in variant.steps] == [s.id for s in shipped.steps if s.id not in static]
    assert variant.train == shipped.train and variant.sources == shipped.sources
    assert (tmp_path / "gcnet" / shipped.train.config).is_file()


def test_an_unwritable_plot_path_is_refused_before_the_run(tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("")
    out = run_cli("profile", "gcnet", "--workspace", str(tmp_path / "none"), "--plot", str(afile / "p.png"))
    assert out.returncode == 2 and "is not a writable folder" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
