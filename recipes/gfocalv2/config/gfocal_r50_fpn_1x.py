# GFL v2 R50-FPN, 1x schedule on COCO detection: a GFocalHead whose classification score is
# multiplied by a quality predicted from the top-k statistics of the learned box distribution
# (the distribution-guided quality predictor, DGQP), trained with Quality Focal Loss, Distribution
# Focal Loss and GIoU. Written for npuport as one self-contained mmdet 2.6 config (the GFocalV2
# tree is mmdet 2.6: train_cfg/test_cfg sit at the top level). lr 0.01 is for 8 devices x 2 images;
# the driver scales nothing by itself.
# Data: $NPUPORT_DATA_ROOT (default data/coco/) or `mmdet_train --data-root`.

# ------------------------------------------------------------------------------ model
model = dict(
    type='GFL',
    pretrained='torchvision://resnet50',
    backbone=dict(
        type='ResNet',
        depth=50,
        num_stages=4,
        out_indices=(0, 1, 2, 3),
        frozen_stages=1,
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=True,
        style='pytorch'),
    neck=dict(
        type='FPN',
        in_channels=[256, 512, 1024, 2048],
        out_channels=256,
        start_level=1,
        add_extra_convs='on_output',
        num_outs=5),
    bbox_head=dict(
        type='GFocalHead',
        num_classes=80,
        in_channels=256,
        stacked_convs=4,
        feat_channels=256,
        anchor_generator=dict(
            type='AnchorGenerator',
            ratios=[1.0],
            octave_base_scale=8,
            scales_per_octave=1,
            strides=[8, 16, 32, 64, 128]),
        # the head multiplies sigmoid(cls) by the DGQP quality: QFL sees probabilities
        loss_cls=dict(
            type='QualityFocalLoss',
            use_sigmoid=False,
            beta=2.0,
            loss_weight=1.0),
        loss_dfl=dict(type='DistributionFocalLoss', loss_weight=0.25),
        reg_max=16,
        # DGQP: top-4 probabilities of each side's distribution plus their mean -> 64 -> 1
        reg_topk=4,
        reg_channels=64,
        add_mean=True,
        loss_bbox=dict(type='GIoULoss', loss_weight=2.0)))
train_cfg = dict(
    assigner=dict(type='ATSSAssigner', topk=9),
    allowed_border=-1,
    pos_weight=-1,
    # npuport's static-head step: every image's ground truth padded to 100 boxes, so the step's shapes do not
    # follow the object count (an image with more keeps its own count: a new shape, rare on COCO)
    num_gt_pad=100,
    debug=False)
test_cfg = dict(
    nms_pre=1000,
    min_bbox_size=0,
    score_thr=0.05,
    nms=dict(type='nms', iou_threshold=0.6),
    max_per_img=100)

# ------------------------------------------------------------------------------- data
dataset_type = 'CocoDataset'
# __import__ leaves no module object in the config namespace (mmcv keeps every name)
data_root = __import__('os').environ.get('NPUPORT_DATA_ROOT', 'data/coco/')
if not data_root.endswith('/'):
    data_root += '/'
img_norm_cfg = dict(
    mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], to_rgb=True)
# npuport's static-host-gt-padding step: the ground truth padded on the host (npuport.runtime.gt_padding); lines
# marked npuport-static are left out of the recipe's dynamic variant (npuport.recipe.variants)
custom_imports = dict(imports=['npuport.runtime.gt_padding'], allow_failed_imports=False)  # npuport-static
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
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='MultiScaleFlipAug',
        img_scale=(1333, 800),
        flip=False,
        transforms=[
            dict(type='Resize', keep_ratio=True),
            dict(type='RandomFlip'),
            dict(type='Normalize', **img_norm_cfg),
            dict(type='Pad', size_divisor=32),
            dict(type='ImageToTensor', keys=['img']),
            dict(type='Collect', keys=['img']),
        ])
]
data = dict(
    samples_per_gpu=2,
    workers_per_gpu=2,
    train=dict(
        type=dataset_type,
        ann_file=data_root + 'annotations/instances_train2017.json',
        img_prefix=data_root + 'train2017/',
        pipeline=train_pipeline),
    val=dict(
        type=dataset_type,
        ann_file=data_root + 'annotations/instances_val2017.json',
        img_prefix=data_root + 'val2017/',
        pipeline=test_pipeline),
    test=dict(
        type=dataset_type,
        ann_file=data_root + 'annotations/instances_val2017.json',
        img_prefix=data_root + 'val2017/',
        pipeline=test_pipeline))
evaluation = dict(interval=1, metric='bbox')

# -------------------------------------------------------------------------- schedule
optimizer = dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=0.0001)
optimizer_config = dict(grad_clip=None)
lr_config = dict(
    policy='step',
    warmup='linear',
    warmup_iters=500,
    warmup_ratio=0.001,
    step=[8, 11])
total_epochs = 12  # mmdet 2.6's name; npuport's driver builds its runner from `runner`
runner = dict(type='EpochBasedRunner', max_epochs=12)

# --------------------------------------------------------------------------- runtime
checkpoint_config = dict(interval=1)
log_config = dict(interval=50, hooks=[dict(type='TextLoggerHook')])
dist_params = dict(backend='nccl')
log_level = 'INFO'
load_from = None
resume_from = None
workflow = [('train', 1)]
