"""The multi-level RoIAlign (npuport.runtime.multi_roi_align): each RoI pooled from its own level, equal to the
portable per-level RoIAlign forward and backward, one node under torch.compile, one kernel per level in a census."""
from __future__ import annotations

import types

import pytest

torch = pytest.importorskip("torch")

from npuport.runtime import ops  # noqa: E402
from npuport.runtime.census import Census  # noqa: E402
from npuport.runtime.multi_roi_align import roi_align_levels  # noqa: E402

SCALES = (1 / 4, 1 / 8, 1 / 16, 1 / 32)
LAYERS = [types.SimpleNamespace(output_size=(7, 7), spatial_scale=s, sampling_ratio=0, aligned=True, pool_mode="avg")
          for s in SCALES]


def inputs(seed, n=40):
    gen = torch.Generator().manual_seed(seed)
    feats = [torch.randn(2, 3, 128 // 2 ** i, 96 // 2 ** i, generator=gen, requires_grad=True) for i in range(4)]
    xy = torch.rand(n, 2, generator=gen) * torch.tensor([300.0, 400.0])
    size = torch.rand(n, 2, generator=gen) * 200 + 1
    rois = torch.cat([torch.randint(0, 2, (n, 1), generator=gen).float(), xy, xy + size], 1)
    levels = torch.randint(0, 4, (n,), generator=gen, dtype=torch.int32)
    levels[:3] = 2  # a level with RoIs, whatever the draw; level 3 may have none
    return feats, rois, levels


def test_equals_the_per_level_roi_align_forward_and_backward():
    for seed in range(3):
        feats, rois, levels = inputs(seed)
        weight = torch.randn(rois.size(0), 3, 7, 7, generator=torch.Generator().manual_seed(seed))
        out = roi_align_levels(feats, rois, levels, LAYERS)
        (out * weight).sum().backward()
        refs = [f.detach().clone().requires_grad_() for f in feats]
        expected = torch.zeros_like(out)
        for i, (ref, scale) in enumerate(zip(refs, SCALES)):
            mine = (levels == i).nonzero().squeeze(1)
            if mine.numel():
                pooled = ops.roi_align(ref, rois[mine], (7, 7), scale, 0, True)
                (pooled * weight[mine]).sum().backward()
                expected[mine] = pooled.detach()
        assert out.shape == (40, 3, 7, 7)
        assert torch.allclose(out, expected, atol=1e-5)
        for feat, ref in zip(feats, refs):
            assert torch.allclose(feat.grad, ref.grad if ref.grad is not None else torch.zeros_like(feat), atol=1e-5)


def test_one_node_under_torch_compile_whatever_the_levels():
    import torch._dynamo
    from torch._dynamo.utils import counters

    torch._dynamo.reset()
    counters.clear()
    step = torch.compile(lambda f, r, l: roi_align_levels(f, r, l, LAYERS).sum(1), backend="aot_eager", dynamic=False)
    for seed in range(3):
        feats, rois, levels = inputs(seed)
        feats = [f.detach() for f in feats]
        assert torch.allclose(step(feats, rois, levels), roi_align_levels(feats, rois, levels, LAYERS).sum(1))
    assert counters["stats"]["unique_graphs"] == 1 and not sum(counters["graph_break"].values())


def test_a_census_counts_one_roi_align_per_level():
    feats, rois, levels = inputs(0)
    census = Census(warmup=0)
    census.begin()
    roi_align_levels(feats, rois, levels, LAYERS).sum().backward()
    census.end()
    report = census.report()
    counted = report["ops"]["new_signatures"]
    assert counted.get("npu_roi_align") == 4 and counted.get("npu_roi_align_grad") == 4
    assert not [op for op in counted if op.startswith("npuport.")]
    assert report["measured"]["dynamic"] == 0 and report["measured"]["syncs"] == 0
