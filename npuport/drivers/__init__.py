"""Training and evaluation entry points that run inside a set-up workspace (``python -m npuport.drivers.X``).

They import the installed upstream packages (mmcv, mmdet) and npuport.runtime; the CLI only
launches them.
"""
