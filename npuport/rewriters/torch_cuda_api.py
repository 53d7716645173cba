"""NPU102: `torch.cuda.synchronize()` and friends -> npuport.runtime.

Before::

    torch.cuda.manual_seed_all(seed)
    device_ids = [torch.cuda.current_device()]
    if torch.cuda.is_available(): ...

After::

    npuport.runtime.manual_seed_all(seed)
    device_ids = [npuport.runtime.current_device()]
    if npuport.runtime.is_available(): ...

Why: torch.cuda.* is a CUDA-only namespace; on an NPU the same calls live in torch.npu. The runtime
picks the right one. Mapped: synchronize, device_count, current_device, set_device, manual_seed_all,
manual_seed (-> manual_seed_all: each process drives one device), is_available, the memory statistics
that loggers print (max_memory_allocated, memory_allocated, reset_peak_memory_stats, reset_max_memory_allocated,
memory_reserved, max_memory_reserved, memory_stats, empty_cache: 0, {} or a no-op on the CPU), get_device_name,
the `with torch.cuda.device(i):` context (-> device_guard(i)), and the legacy constructors
torch.cuda.FloatTensor(...) and friends (-> legacy_tensor('FloatTensor', ...): the CPU type's constructor, moved
to the current device; a type check such as isinstance(x, torch.cuda.FloatTensor) is reported). Any other
torch.cuda.X (Stream, Event, ...) is reported, not changed; torch.cuda.amp is NPU405's.

Meaning: once rewritten, the guard `torch.cuda.is_available()` means "any accelerator", so the branch it selects
must not name cuda: `'cuda' if torch.cuda.is_available() else 'cpu'` becomes `npuport.runtime.device_type()`
(and 'cuda:N' / torch.device('cuda') there become the runtime's device type). In a file that builds a CUDA
extension (it imports torch.utils.cpp_extension: CUDAExtension, BuildExtension) the guard selects .cu sources
that only nvcc builds: it is reported and stays CUDA-only.
"""

from __future__ import annotations

from npuport.rewriters._device import TorchCudaApi
from npuport.rewriters.base import Rule


class TorchCudaApiRule(Rule):
    ID = "NPU102"
    DESCRIPTION = ("rewrite torch.cuda.synchronize/device_count/current_device/set_device/manual_seed[_all]/"
                   "is_available/device(i), memory statistics to npuport.runtime; report other torch.cuda.* uses")
    FIXABLE = True
    TRIGGERS = ("torch.cuda.",)
    Transformer = TorchCudaApi
