"""The device a launch targets (npu, cuda or cpu), chosen in npuport's own process.

Nothing here imports torch_npu: a torch_npu without its driver stack may take the importing process down, and
`npuport doctor` must still report on it. The training processes then ask npuport.runtime, which imports it.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from importlib.metadata import PackageNotFoundError, version
from typing import Mapping, Optional

from .. import proc
from ..contract import DEVICE_ENV
from ..errors import UsageError
from ..runtime import DEVICE_TYPES


def installed(dist: str) -> str:
    """The installed version of distribution `dist`, "" if none."""
    try:
        return version(dist)
    except PackageNotFoundError:
        return ""


def detect_device(environ: Optional[Mapping[str, str]] = None) -> str:
    """NPUPORT_DEVICE when set, else npu when torch_npu is installed, else cuda when nvidia-smi lists a GPU,
    else cpu."""
    wanted = (os.environ if environ is None else environ).get(DEVICE_ENV, "").strip().lower()
    if wanted:
        if wanted not in DEVICE_TYPES:
            raise UsageError(f"{DEVICE_ENV}={wanted!r} is not a device type; use one of {', '.join(DEVICE_TYPES)}")
        return wanted
    if installed("torch_npu"):
        return "npu"
    if shutil.which("nvidia-smi") and proc.run(["nvidia-smi", "-L"], what="nvidia-smi", check=False,
                                               timeout=60).returncode == 0:
        return "cuda"
    return "cpu"


def check_device(device: str) -> None:
    """UsageError when this environment cannot run on `device` at all."""
    if device == "npu" and importlib.util.find_spec("torch_npu") is None:
        raise UsageError("--device npu: torch_npu is not installed in this environment; install Ascend's torch_npu "
                         "matching your torch and CANN, or choose --device cuda|cpu")
    if device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise UsageError("--device cuda: no CUDA device is visible; choose --device cpu (or npu on an Ascend server)")
