# npuport's changes to GCNet's own configs/gcnet/r50/mask_rcnn_r16_gcb_c3-c5_r50_fpn_1x.py (Mask R-CNN R50-FPN,
# GC blocks ratio 1/16 in c3-c5, 1x), merged over it by npuport/drivers/mmdet_config.py: a dict updates the
# dict under its key, anything else replaces. `--data-root` moves the paths of cfg.data that start with the
# config's data_root. mmdet 0.x counts the background as a class (num_classes=81). lr 0.02 is for 8 devices x
# 2 images; the driver scales nothing by itself.

# what `npuport train --validate` / `npuport eval` report (mmdet 0.6 itself evaluated in tools/test.py)
evaluation = dict(metric=['bbox', 'segm'])

# npuport's static steps; lines marked npuport-static are left out of the recipe's dynamic variant
# (npuport.recipe.variants)
train_cfg = dict(num_gt_pad=100)  # npuport-static: static-gt-padding (gt boxes per image)
train_cfg.update(rcnn=dict(mask_pos_slots=128))  # npuport-static: static-mask-slots (mask-head rows per batch; docs/static.md)
data = dict(train=dict(gt_padding=100))  # npuport-static: static-host-gt-padding (= train_cfg.num_gt_pad)
