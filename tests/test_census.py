"""The step census (npuport.runtime.census): exact counts on small hand-made steps, sites, kernels, and
torch.compile's recompiles (npuport.runtime.compile_watch)."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from npuport.runtime.census import Census, kernel  # noqa: E402


def run(step, iters=3, warmup=1):
    census = Census(warmup=warmup)
    for i in range(iters):
        census.begin()
        step(i)
        census.end()
    return census, census.report()


def only(report, **expected):
    """The measured per-iteration counts, with every category not named expected to be 0."""
    measured = report["measured"]
    for name in ("dynamic", "syncs", "int64", "new_signatures"):
        assert measured[name] == expected.get(name, 0), (name, measured)


def test_static_float_step_counts_nothing_after_warmup():
    x = torch.randn(4, 3)
    census, report = run(lambda i: (x * 2 + 1).relu().sum())
    only(report)
    assert [it["ops"] for it in report["iterations"]] == [4, 4, 4]
    assert report["iterations"][0]["new_signatures"] == 4


def test_nonzero_is_one_dynamic_op():
    x = torch.tensor([0.0, 1.0, 2.0])
    census, report = run(lambda i: torch.nonzero(x > 0))
    only(report, dynamic=1)
    assert report["ops"]["dynamic"] == {"aten.nonzero.default": 1.0}


def test_boolean_index_is_dynamic_but_integer_gather_is_not():
    x = torch.randn(6, 2)
    mask = torch.tensor([True, False, True, False, True, False])
    index = torch.tensor([0, 2, 4])
    _, with_mask = run(lambda i: x[mask])
    only(with_mask, dynamic=1)
    _, with_index = run(lambda i: x[index])
    only(with_index)


def test_item_is_one_sync():
    x = torch.randn(5)
    _, report = run(lambda i: x.sum().item())
    only(report, syncs=1)
    assert report["ops"]["syncs"] == {"aten._local_scalar_dense.default": 1.0}


def test_int64_add_counts_but_int32_does_not():
    a64, a32 = torch.arange(5), torch.arange(5, dtype=torch.int32)
    _, report = run(lambda i: a64 + 1)
    only(report, int64=1)
    _, report = run(lambda i: a32 + 1)
    only(report)


def test_a_shape_change_is_a_new_signature_each_time():
    x = torch.randn(10, 3)
    # iteration i uses i + 2 rows: slice and mul both see a new shape in every iteration
    census, report = run(lambda i: x[: i + 2] * 2.0, iters=4, warmup=1)
    only(report, new_signatures=2)
    census, report = run(lambda i: x[:5] * 2.0, iters=4, warmup=1)
    only(report)


def test_sites_name_this_file_and_line():
    x = torch.tensor([0.0, 1.0])

    def step(i):
        return torch.nonzero(x)  # the site

    _, report = run(step)
    site = report["sites"]["dynamic"][0]
    assert site["site"].endswith("test_census.py:" + str(step.__code__.co_firstlineno + 1))
    assert site["op"] == "aten.nonzero.default" and site["per_iter"] == 1.0


def test_ops_outside_the_step_are_not_counted():
    x = torch.tensor([0.0, 1.0])
    census = Census(warmup=0)
    torch.nonzero(x)
    census.begin()
    x + 1
    census.end()
    torch.nonzero(x).sum().item()
    assert census.report()["iterations"] == [
        {"iter": 1, "ops": 1, "dynamic": 0, "syncs": 0, "int64": 0, "new_signatures": 1, "seconds": pytest.approx(0, abs=1)}
    ]


def test_a_kernel_counts_once_with_its_own_signature():
    x = torch.tensor([0.0, 1.0, 2.0])

    def step(i):
        with kernel("npu_fake", (x,)):
            torch.nonzero(x).sum().item()  # many ops inside, none counted
        with kernel("npu_fake_nms", (x,), dynamic=True):
            x * 2

    _, report = run(step)
    only(report, dynamic=1)
    assert [it["ops"] for it in report["iterations"]] == [2, 2, 2]
    assert report["ops"]["dynamic"] == {"npu_fake_nms": 1.0}


def test_roi_align_is_one_kernel_in_a_census():
    from npuport.runtime import ops

    feats = torch.randn(1, 4, 16, 16)
    rois = torch.tensor([[0, 1.0, 1.0, 9.0, 7.0], [0, 2.0, 3.0, 14.0, 15.0]])
    out = feats.new_zeros(2, 4, 7, 7)
    empty = feats.new_zeros(0)

    def step(i):
        ops.roi_align_forward(feats, rois, out, empty, empty, 7, 7, 1.0, 0, 1, True)

    _, report = run(step)
    only(report)
    assert [it["ops"] for it in report["iterations"]] == [1, 1, 1]
    _, report = run(step, iters=1, warmup=0)  # the site is the op's caller, not the portable op's insides
    assert report["sites"]["new_signatures"] == [
        {"site": f"test_census.py:{step.__code__.co_firstlineno + 1}", "op": "npu_roi_align", "per_iter": 1.0}]


def test_compile_watch_counts_recompiles_of_a_changing_shape():
    from npuport.runtime.compile_watch import CompileWatch

    watch = CompileWatch(warmup=1)
    fn = watch.wrap(lambda t: (t * 2).sum())
    for n in (3, 4, 5, 5):
        watch.begin()
        fn(torch.randn(n))
        watch.end()
    report = watch.report()
    assert [r["recompiles"] for r in report["iterations"]] == [0, 1, 1, 0]
    assert report["after_warmup"]["recompiles"] == 2
    assert "size mismatch" in report["reasons"]["recompiles"][0]["reason"]


def test_host_reads_count_as_syncs_on_the_cpu_but_not_inside_a_kernel():
    x = torch.randn(4)

    def step(i):
        x.numpy()
        x.tolist()
        x.cpu()
        with kernel("npu_fake", (x,)):
            x.numpy()

    census, report = run(step)
    only(report, syncs=3)
    assert report["ops"]["syncs"] == {"Tensor.numpy": 1.0, "Tensor.tolist": 1.0, "Tensor.cpu": 1.0}
    assert torch.Tensor.numpy.__name__ == "numpy" and "census" not in torch.Tensor.numpy.__qualname__


def test_host_side_work_is_not_counted_but_the_copy_to_the_host_is():
    from npuport.runtime.census import host

    x = torch.tensor([0.0, 1.0, 2.0])

    def step(i):
        on_host = x.cpu()  # the one read of device data
        with host():
            torch.nonzero(on_host).tolist()  # bookkeeping on the host
        x + 1

    _, report = run(step)
    assert [it["ops"] for it in report["iterations"]] == [1, 1, 1]
    assert [it["syncs"] for it in report["iterations"]] == [1, 1, 1]
    assert [it["dynamic"] for it in report["iterations"]] == [0, 0, 0]
