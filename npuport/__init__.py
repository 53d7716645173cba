"""npuport: port OpenMMLab-era PyTorch models to Ascend NPUs and run their recipes."""

__version__ = "0.1.0"
