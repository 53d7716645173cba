# npuport's changes to SOLO's own configs/solov2/solov2_r50_fpn_8gpu_1x.py (SOLOv2 R50-FPN, 1x, mmdet 1.x),
# merged over it by npuport/drivers/mmdet_config.py: a dict updates the dict under its key, anything else
# replaces. `--data-root` moves the paths of cfg.data that start with the config's data_root. mmdet 1.x counts
# the background as a class (num_classes=81). lr 0.01 is for 8 devices x 2 images; the driver scales nothing.

# npuport's static-loss step: each image's (grid cell, instance) pairs padded to 256 slots, so the loss keeps
# its shapes (an image with more pairs keeps its own count: a new shape)
train_cfg = dict(num_ins_pad=256)

# what `npuport train --validate` / `npuport eval` report: SOLO predicts masks only
evaluation = dict(metric=['segm'])

# npuport's static-loss step reads the ground truth padded on the host (npuport.runtime.gt_padding, as gcnet's
# static-host-gt-padding): the step's shapes do not follow the instance count. Lines marked npuport-static are
# left out of the recipe's dynamic variant. The train pipeline is upstream's with PadGroundTruth after Pad.
custom_imports = dict(imports=['npuport.runtime.gt_padding'], allow_failed_imports=False)  # npuport-static
img_norm_cfg = dict(mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], to_rgb=True)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='Resize', img_scale=(1333, 800), keep_ratio=True),
    dict(type='RandomFlip', flip_ratio=0.5),
    dict(type='Normalize', **img_norm_cfg),
    dict(type='Pad', size_divisor=32),
    dict(type='PadGroundTruth', num=100),  # npuport-static: the instance count on the host
    dict(type='DefaultFormatBundle'),
    dict(type='Collect', keys=['img', 'gt_bboxes', 'gt_labels', 'gt_masks']),
]
data = dict(train=dict(pipeline=train_pipeline))
