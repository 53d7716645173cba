"""NPU112: `torch.cuda.X` -> `torch.npu.X` (direct NPU port, adds `import torch_npu`).

Before::

    torch.cuda.synchronize()
    stream = torch.cuda.current_stream()

After::

    import torch_npu
    torch.npu.synchronize()
    stream = torch.npu.current_stream()

Why: torch_npu mirrors the torch.cuda namespace as torch.npu. torch.npu is an attribute, not an importable
module: `from torch.cuda.amp import autocast` becomes `from torch_npu.npu.amp import autocast`.
Names torch_npu spells differently are renamed (torch.cuda.CUDAGraph -> torch.npu.NPUGraph) and names
it lacks (nvtx, jiterator, nccl, ...) are reported and left as they are: the table is
data/torch_npu_names.json. As in NPU102, `'cuda' if torch.cuda.is_available() else 'cpu'` selects 'npu', and
the guard of a CUDA extension build (torch.utils.cpp_extension) stays torch.cuda.is_available().
"""

from __future__ import annotations

from npuport.rewriters._util import npu_flavour
from npuport.rewriters.torch_cuda_api import TorchCudaApi
from npuport.rewriters.base import Rule


class NpuTorchCudaRule(Rule):
    ID = "NPU112"
    DESCRIPTION = "direct NPU port: rewrite torch.cuda.X to torch.npu.X and import torch_npu"
    FIXABLE = True
    TRIGGERS = ("torch.cuda",)
    Transformer = npu_flavour(TorchCudaApi)
