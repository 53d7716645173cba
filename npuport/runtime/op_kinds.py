"""How the census classifies an ATen op: its tags (dynamic output shape, data-dependent output, pointwise,
reduction) and its name."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Tuple


@dataclass
class OpKind:
    dynamic: bool
    bool_index: bool  # index / index_put: dynamic only with a boolean mask
    sync: bool
    arithmetic: bool
    copy: bool


def kind(func: Any) -> OpKind:
    import torch

    tags = set(getattr(func, "tags", ()))
    base = func.overloadpacket.__name__
    return OpKind(
        dynamic=torch.Tag.dynamic_output_shape in tags,
        bool_index=base in ("index", "index_put", "index_put_", "_index_put_impl_"),
        sync=torch.Tag.data_dependent_output in tags or base in ("equal", "is_nonzero"),
        arithmetic=(torch.Tag.pointwise in tags or torch.Tag.reduction in tags
                    or base in ("sum", "cumsum", "prod", "max", "min", "sort", "topk", "argsort")),
        copy=base in ("_to_copy", "copy_"),
    )


def flat(args: Any, kwargs: Dict[str, Any]) -> List[Any]:
    flat: List[Any] = []
    for value in (*args, *kwargs.values()):
        if isinstance(value, (list, tuple)):
            flat.extend(value)
        else:
            flat.append(value)
    return flat


def has_bool_index(args: Tuple[Any, ...], torch: Any) -> bool:
    indices = args[1] if len(args) > 1 else None
    if isinstance(indices, (list, tuple)):
        return any(isinstance(i, torch.Tensor) and i.dtype in (torch.bool, torch.uint8) for i in indices)
    return False
