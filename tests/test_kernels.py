"""npuport's portable kernels as custom ops (npuport.runtime.kernels, padded_nms): the values of the plain
functions, one node under torch.compile whatever the RoIs or boxes, one kernel in a census."""
from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from npuport.runtime import ops  # noqa: E402
from npuport.runtime.census import Census  # noqa: E402
from npuport.runtime.padded_nms import batched_nms_padded  # noqa: E402

EXT = ops.load_ext("_ext", ["roi_align_forward", "roi_align_backward"])


class RoIAlign(torch.autograd.Function):
    """mmcv's RoIAlignFunction in small: forward and backward through the ext table."""

    @staticmethod
    def forward(ctx, x, rois):
        ctx.save_for_backward(rois)
        ctx.shape = x.shape
        out = x.new_zeros((rois.size(0), x.size(1), 7, 7))
        empty = x.new_zeros(0)
        EXT.roi_align_forward(x, rois, out, empty, empty, aligned_height=7, aligned_width=7, spatial_scale=0.25,
                              sampling_ratio=0, pool_mode=1, aligned=True)
        return out

    @staticmethod
    def backward(ctx, grad):
        (rois,) = ctx.saved_tensors
        grad_input = grad.new_zeros(ctx.shape)
        empty = grad.new_zeros(0)
        EXT.roi_align_backward(grad.contiguous(), rois, empty, empty, grad_input, aligned_height=7, aligned_width=7,
                               spatial_scale=0.25, sampling_ratio=0, pool_mode=1, aligned=True)
        return grad_input, None


def rois(seed, n=12):
    gen = torch.Generator().manual_seed(seed)
    xy = torch.rand(n, 2, generator=gen) * 60
    return torch.cat([torch.randint(0, 2, (n, 1), generator=gen).float(), xy, xy + torch.rand(n, 2, generator=gen) * 60 + 4], 1)


def test_the_custom_ops_give_the_portable_values_and_gradients():
    x = torch.randn(2, 3, 32, 32, requires_grad=True)
    r = rois(0)
    out = RoIAlign.apply(x, r)
    (out * torch.arange(out.numel()).view_as(out)).sum().backward()
    expected = ops.roi_align(x.detach().requires_grad_(), r, (7, 7), 0.25, 0, True)
    assert torch.equal(out, expected)
    ref = x.detach().requires_grad_()
    (ops.roi_align(ref, r, (7, 7), 0.25, 0, True) * torch.arange(out.numel()).view_as(out)).sum().backward()
    assert torch.allclose(x.grad, ref.grad)


def graphs_and_breaks(fn, inputs):
    import torch._dynamo
    from torch._dynamo.utils import counters

    torch._dynamo.reset()
    counters.clear()
    compiled = torch.compile(fn, backend="aot_eager", dynamic=False)
    for args in inputs:
        assert torch.allclose(compiled(*args), fn(*args))
    return counters["stats"]["unique_graphs"], sum(counters["graph_break"].values())


def test_roi_align_is_one_node_under_torch_compile():
    x = torch.randn(2, 3, 32, 32)
    graphs, breaks = graphs_and_breaks(lambda x, r: RoIAlign.apply(x, r).sum(1), [(x, rois(s)) for s in range(3)])
    assert (graphs, breaks) == (1, 0)  # other RoIs, other sampling grids: no recompile, no graph break


def test_padded_nms_is_one_node_under_torch_compile():
    def step(boxes, scores, idxs):
        dets, valid = batched_nms_padded(boxes, scores, idxs, 0.5, 40)
        return torch.where(valid[:, None], dets, dets.new_zeros(())).sum(0)

    inputs = []
    for s in range(3):
        r = rois(s, n=90)
        inputs.append((r[:, 1:], torch.rand(90, generator=torch.Generator().manual_seed(s)), r[:, 0].long()))
    assert graphs_and_breaks(step, inputs) == (1, 0)


def test_a_census_counts_each_custom_op_as_its_kernel():
    x = torch.randn(2, 3, 32, 32, requires_grad=True)
    census = Census(warmup=0)
    census.begin()
    RoIAlign.apply(x, rois(1)).sum().backward()
    census.end()
    counted = census.report()["ops"]["new_signatures"]
    assert counted.get("npu_roi_align") == 1 and counted.get("npu_roi_align_grad") == 1
    assert not [op for op in counted if op.startswith("npuport.")]
