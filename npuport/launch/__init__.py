"""Launch: one process, or torchrun for many (gloo on CPU, nccl on CUDA, hccl on NPU), one or many nodes."""
