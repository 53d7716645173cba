# npuport's changes to SOLO's own configs/solov2/solov2_r50_fpn_8gpu_1x.py (SOLOv2 R50-FPN, 1x, mmdet 1.x),
# merged over it by npuport/drivers/mmdet_config.py: a dict updates the dict under its key, anything else
# replaces. `--data-root` moves the paths of cfg.data that start with the config's data_root. mmdet 1.x counts
# the background as a class (num_classes=81). lr 0.01 is for 8 devices x 2 images; the driver scales nothing.

# npuport's static-loss step: each image's (grid cell, instance) pairs padded to 256 slots, so the loss keeps
# its shapes (an image with more pairs keeps its own count: a new shape)
train_cfg = dict(num_ins_pad=256)

# what `npuport train --validate` / `npuport eval` report: SOLO predicts masks only
evaluation = dict(metric=['segm'])
