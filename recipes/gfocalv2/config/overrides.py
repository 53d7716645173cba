# npuport's changes to GFocalV2's own configs/gfocal/gfocal_r50_fpn_1x.py (GFL v2 R50-FPN, 1x, on its mmdet 2.6
# _base_ files), merged over it by npuport/drivers/mmdet_config.py: a dict updates the dict under its key,
# anything else replaces. `--data-root` moves the paths of cfg.data that start with the config's data_root.
# lr 0.01 is for 8 devices x 2 images; the driver scales nothing by itself.

# npuport's static-head step: every image's ground truth padded to 100 boxes, so the step's shapes do not
# follow the object count (an image with more keeps its own count: a new shape, rare on COCO)
train_cfg = dict(num_gt_pad=100)

# mmdet 2.6 reads total_epochs; npuport's driver builds its runner from `runner`, as mmdet >= 2.10 does
runner = dict(type='EpochBasedRunner', max_epochs=12)

# npuport's static-host-gt-padding step: the ground truth padded on the host (npuport.runtime.gt_padding); lines
# marked npuport-static are left out of the recipe's dynamic variant (npuport.recipe.variants). The train
# pipeline is upstream's with PadGroundTruth after Pad.
custom_imports = dict(imports=['npuport.runtime.gt_padding'], allow_failed_imports=False)  # npuport-static
img_norm_cfg = dict(mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], to_rgb=True)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', img_scale=(1333, 800), keep_ratio=True),
    dict(type='RandomFlip', flip_ratio=0.5),
    dict(type='Normalize', **img_norm_cfg),
    dict(type='Pad', size_divisor=32),
    dict(type='PadGroundTruth', num=100),  # npuport-static: static-host-gt-padding (= train_cfg.num_gt_pad)
    dict(type='DefaultFormatBundle'),
    dict(type='Collect', keys=['img', 'gt_bboxes', 'gt_labels']),
]
data = dict(train=dict(pipeline=train_pipeline))
