"""Behaviour with real torch: the rewritten forms compute what the originals computed."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from npuport.rewriters import apply

torch = pytest.importorskip("torch")

FIXTURES = Path(__file__).parent / "fixtures" / "rewriters"


def _run(source: str, **env) -> dict:
    scope = {"torch": torch, **env}
    exec(compile(source, "<fixture>", "exec"), scope)
    return scope


def test_masked_assign_rewrite_is_exact() -> None:
    body = textwrap.dedent("""\
        keep = scores > 0.5
        boxes[keep] = -1
        x[x < 0] = 0
        y[keep] = other[keep]
        """)
    new, changes = apply(body, ["NPU302"])
    assert sum(c.fixed for c in changes) == 3 and "[" not in new.replace("[keep]", "")
    g = torch.Generator().manual_seed(0)

    def data():
        return dict(scores=torch.rand(6, generator=g), boxes=torch.randn(6, 4, generator=g),
                    x=torch.randn(5, generator=g), y=torch.randn(6, 3, generator=g),
                    other=torch.randn(6, 3, generator=g))

    a = data()
    b = {k: v.clone() for k, v in a.items()}
    _run(body, **a)
    _run(new, **b)
    for name in ("boxes", "x", "y"):
        assert torch.equal(a[name], b[name]), name


def test_nonzero_count_rewrite_is_exact() -> None:
    body = textwrap.dedent("""\
        a = len(torch.nonzero(labels > 0))
        b = (labels == 0).nonzero().size(0)
        c = values.nonzero(as_tuple=False).shape[0]
        d = 1 if values.nonzero().numel() else 0
        """)
    new, changes = apply(body, ["NPU303"])
    assert "nonzero" not in new and sum(c.fixed for c in changes) == 4
    labels = torch.tensor([0, 2, 0, 1, 3])
    values = torch.tensor([[0.0, 1.5], [0.0, 0.0], [2.0, 0.0]])
    old, rewritten = _run(body, labels=labels, values=values), _run(new, labels=labels, values=values)
    for name in "abcd":
        assert old[name] == rewritten[name] and type(rewritten[name]) is int, name


def test_optimizer_hook_fixture_trains_with_and_without_scaler() -> None:
    source = (FIXTURES / "NPU403" / "mmcv02.out.py").read_text()
    hook_cls = _run(source)["OptimizerHook"]

    class Runner:
        def __init__(self) -> None:
            torch.manual_seed(0)
            self.model = torch.nn.Linear(3, 1)
            self.optimizer = torch.optim.SGD(self.model.parameters(), lr=0.1)
            loss = self.model(torch.ones(2, 3)).pow(2).sum()
            self.outputs = {"loss": loss}

    plain, scaled = Runner(), Runner()
    before = plain.model.weight.detach().clone()
    hook_cls(grad_clip=dict(max_norm=1.0)).after_train_iter(plain)
    scaler = torch.amp.GradScaler("cpu", init_scale=128.0)
    scaled.npuport_scaler = scaler
    hook_cls(grad_clip=dict(max_norm=1.0)).after_train_iter(scaled)
    assert not torch.equal(before, plain.model.weight)
    # unscale_ before clipping: the scaled run takes the same step as the plain one
    assert torch.allclose(plain.model.weight, scaled.model.weight)
    assert scaler.get_scale() == 128.0 and scaler._growth_tracker.item() == 1  # update() ran


def test_cuda_call_keeps_its_device_meaning(monkeypatch) -> None:
    from npuport import runtime

    monkeypatch.setenv("NPUPORT_DEVICE", "cuda")
    monkeypatch.setenv("LOCAL_RANK", "3")
    monkeypatch.setattr(runtime, "current_device", lambda: 1)  # what set_device chose (mp.spawn: no LOCAL_RANK)
    runtime.reset()
    try:
        assert runtime.current() == torch.device("cuda", 1)  # bare .cuda(): the current device, not LOCAL_RANK's
        assert runtime.device() == torch.device("cuda", 3)
        assert runtime.device(torch.device("cuda", 2)) == torch.device("cuda", 2)  # .cuda(torch.device(...))
        assert runtime.device("cuda:0") == torch.device("cuda", 0)
        assert runtime.device(torch.device("cuda")) == torch.device("cuda", 1)
    finally:
        runtime.reset()


def test_storage_cuda_in_map_location_loads(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("NPUPORT_DEVICE", "cpu")
    from npuport import runtime

    runtime.reset()
    torch.save({"w": torch.arange(3.0)}, tmp_path / "ckpt.pth")
    source = "state = torch.load(path, map_location=lambda storage, loc: storage.cuda())\n"
    new, changes = apply(source, ["NPU101"])
    assert "storage.to(device=npuport.runtime.current())" in new and changes[0].fixed
    scope = _run(new, path=str(tmp_path / "ckpt.pth"), npuport=sys.modules["npuport"])
    assert torch.equal(scope["state"]["w"], torch.arange(3.0)) and runtime.current() == torch.device("cpu")
    runtime.reset()


def test_optional_torchvision_stand_in_names_what_is_missing(monkeypatch) -> None:
    import npuport.runtime

    source = (FIXTURES / "NPU605" / "in_function.out.py").read_text()
    monkeypatch.setitem(sys.modules, "torchvision", None)  # `import torchvision` raises ImportError
    monkeypatch.setitem(sys.modules, "torchvision.ops", None)
    scope = _run(source)  # the fallback imports npuport.runtime itself: later imports may follow
    assert scope["transforms"] is None and not scope["nms"]
    with pytest.raises(ImportError, match=r"needs torchvision\.ops\.nms, which could not be imported"):
        scope["suppress"](torch.zeros(1, 4), torch.zeros(1))
    with pytest.raises(ImportError, match=r"torchvision\.ops\.nms\.batched"):
        scope["nms"].batched
    assert "missing" in repr(npuport.runtime.missing("torchvision", ImportError("no module")))


def test_cuda_amp_rewrite_runs_on_cpu_like_cuda_amp_there(monkeypatch) -> None:
    from npuport import runtime

    monkeypatch.setenv("NPUPORT_DEVICE", "cpu")
    runtime.reset()
    source = textwrap.dedent("""\
        import torch
        from torch.cuda.amp import autocast

        model = torch.nn.Linear(2, 2)
        scaler = torch.cuda.amp.GradScaler(init_scale=8.0)
        with autocast():
            y = model(torch.ones(1, 2))
        loss = scaler.scale(y.sum())
        """)
    new, changes = apply(source, ["NPU405"])
    assert "torch.cuda.amp" not in new and all(c.fixed for c in changes)
    scope: dict = {}
    exec(compile(new, "<amp>", "exec"), scope)
    # as torch.cuda.amp on a machine without CUDA: disabled, float32, the loss unscaled
    assert scope["y"].dtype == torch.float32 and not scope["scaler"].is_enabled()
    assert torch.equal(scope["loss"], scope["y"].sum())
    runtime.reset()


def test_is_cuda_is_reported_and_on_accelerator_is_false_on_cpu() -> None:
    from npuport import runtime

    source = "flag = x.is_cuda\n"
    new, changes = apply(source, ["NPU103"])
    assert new == source and len(changes) == 1 and not changes[0].fixed  # it may guard a CUDA-only kernel
    assert runtime.on_accelerator(torch.ones(1)) is False
    assert runtime.on_accelerator(torch.ones(1, device="meta")) is False


def test_runtime_twins_of_torch_cuda_run_on_cpu(monkeypatch) -> None:
    from npuport import runtime

    monkeypatch.setenv("NPUPORT_DEVICE", "cpu")
    runtime.reset()
    source = textwrap.dedent("""\
        with torch.cuda.device(0):
            name = torch.cuda.get_device_name(0)
            held = torch.cuda.memory_reserved() + torch.cuda.max_memory_reserved()
        torch.cuda.reset_max_memory_allocated()
        stats = torch.cuda.memory_stats()
        """)
    new, changes = apply(source, ["NPU102"])
    assert "torch.cuda" not in new and len(changes) == 6
    scope = _run(new, npuport=sys.modules["npuport"])
    assert scope["name"] == "cpu" and scope["held"] == 0 and scope["stats"] == {}
    runtime.reset()


def test_stream_copy_through_a_torch_cuda_alias_runs_on_cpu(monkeypatch) -> None:
    """semantic-segmentation-pytorch's async copy: `import torch.cuda as cuda`, streams, device guards."""
    from npuport import runtime

    monkeypatch.setenv("NPUPORT_DEVICE", "cpu")
    runtime.reset()
    source = textwrap.dedent("""\
        import torch.cuda as cuda

        def copy(inputs, device_ids):
            streams = [cuda.Stream(d) for d in device_ids]
            outputs = []
            for x, dev, stream in zip(inputs, device_ids, streams):
                with cuda.device(dev):
                    main = cuda.current_stream()
                    with cuda.stream(stream):
                        outputs.append(x * 2)
                    main.wait_stream(stream)
            return outputs, cuda.device_count()

        out, count = copy([torch.ones(2), torch.zeros(1)], [0, 1])
        """)
    new, changes = apply(source, ["NPU102"])
    assert "cuda." not in new.replace("import torch.cuda as cuda", "") and all(c.fixed for c in changes)
    assert len(changes) == 5
    scope = _run(new, npuport=sys.modules["npuport"])
    assert [t.tolist() for t in scope["out"]] == [[2.0, 2.0], [0.0]] and scope["count"] == 1
    runtime.reset()


def test_legacy_cuda_tensor_constructors_on_cpu(monkeypatch) -> None:
    from npuport import runtime

    monkeypatch.setenv("NPUPORT_DEVICE", "cpu")
    runtime.reset()
    new, _ = apply("a = torch.cuda.FloatTensor(2, 3)\nb = torch.cuda.LongTensor([1, 2])\n", ["NPU102"])
    scope = _run(new, npuport=sys.modules["npuport"])
    assert scope["a"].shape == (2, 3) and scope["a"].dtype == torch.float32
    assert scope["b"].tolist() == [1, 2] and scope["b"].dtype == torch.int64
    runtime.reset()


def test_compiled_ops_rewrites_only_what_the_runtime_provides_and_it_runs() -> None:
    """NPU106's table of portable ops is the runtime's own (npuport.runtime.ops.PROVIDED; NPU607's mmdet_ops
    modules), and a rewritten ext_module.nms call runs on cpu with mmcv's calling convention."""
    from npuport.rewriters._util import data
    from npuport.rewriters.mmdet_compiled_ops import provided
    from npuport.runtime import mmdet_ops, ops

    table = data("npu_ops")
    assert sorted(table["ext_portable"]) == sorted(ops.PROVIDED)
    modules, exported, working = provided()  # NPU607's reading of mmdet_ops' source
    assert exported == set(mmdet_ops.__all__) and working
    for name in working:
        assert not callable(getattr(mmdet_ops, name)) and getattr(mmdet_ops, name)._functions
    for name in modules - working:  # importable stand-ins that raise when called
        module = getattr(mmdet_ops, name)
        with pytest.raises(ops.MissingOpError):
            (module if callable(module) else module.forward)()
    source = "import torch\n\n\ndef keep(boxes, scores):\n    return ext_module.nms(boxes, scores, iou_threshold=0.5, offset=0)\n"
    new, changes = apply(source, ["NPU106"])
    assert "npuport.runtime.ops.nms(" in new and changes[0].fixed
    boxes = torch.tensor([[0.0, 0.0, 10.0, 10.0], [1.0, 1.0, 10.0, 10.0], [20.0, 20.0, 30.0, 30.0]])
    scores = torch.tensor([0.9, 0.8, 0.7])
    assert _run(new)["keep"](boxes, scores).tolist() == [0, 2]
