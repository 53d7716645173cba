# npuport's changes to GFocalV2's own configs/gfocal/gfocal_r50_fpn_1x.py (GFL v2 R50-FPN, 1x, on its mmdet 2.6
# _base_ files), merged over it by npuport/drivers/mmdet_config.py: a dict updates the dict under its key,
# anything else replaces. `--data-root` moves the paths of cfg.data that start with the config's data_root.
# lr 0.01 is for 8 devices x 2 images; the driver scales nothing by itself.

# npuport's static-head step: every image's ground truth padded to 100 boxes, so the step's shapes do not
# follow the object count (an image with more keeps its own count: a new shape, rare on COCO)
train_cfg = dict(num_gt_pad=100)

# mmdet 2.6 reads total_epochs; npuport's driver builds its runner from `runner`, as mmdet >= 2.10 does
runner = dict(type='EpochBasedRunner', max_epochs=12)
