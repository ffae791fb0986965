""" What a head gets when the user names only the head: the loss and the head / backbone learning-rate ratio of its
published recipe (docs/method_notes.md gives the sources and the measurements behind each value). The one place the
head -> default loss rule lives: train.py, validate.py and the loss factory all ask here."""
from timm_ml.schema import LabelSchema

GROUP_HEADS = ('attributes', 'hierarchical')  # timm's classifier scored with a softmax per exclusive group

HEAD_RECIPES = {
    'linear': dict(loss='bce', head_lr_scale=1.),
    'attributes': dict(loss='ce', head_lr_scale=1.),
    'hierarchical': dict(loss='ce', head_lr_scale=1.),
    'cosine': dict(loss='aam', head_lr_scale=1.),
    'mldecoder': dict(loss='asl', head_lr_scale=1.),
    # ML-GCN's 10x head lr is an SGD recipe (0.1 graph / 0.01 backbone); with AdamW at timm's usual lr a 10x graph
    # head diverged on the mosaics (train loss 97 at the first full-lr epoch), so the graph heads train at --lr
    'gcn': dict(loss='bce', head_lr_scale=1.),
    'ssgrl': dict(loss='bce', head_lr_scale=1.),
}
ML_HEADS = tuple(HEAD_RECIPES)


def default_head(schema) -> str:
    """The head for data given without --ml-head: one softmax per exclusive group when the labels have groups."""
    if schema.kind == 'attributes':
        return 'attributes'
    if schema.kind == 'hierarchical':
        return 'hierarchical'
    return 'linear'


def resolve_loss_type(loss, ml_head: str) -> str:
    """--loss, or the loss of the head's recipe."""
    return loss or HEAD_RECIPES[ml_head]['loss']


def resolve_head_lr_scale(head_lr_scale, ml_head: str) -> float:
    """--head-lr-scale, or the head's recipe value."""
    scale = head_lr_scale if head_lr_scale is not None else HEAD_RECIPES[ml_head]['head_lr_scale']
    if scale <= 0:
        raise ValueError(f'--head-lr-scale must be > 0, got {scale}')
    return scale


def scoring_for(schema: LabelSchema, ml_head: str) -> LabelSchema:
    """The schema the outputs of `ml_head` are scored with: the label schema for group heads, one sigmoid per class
    for the others (which train every value as an independent class)."""
    return schema if ml_head in GROUP_HEADS else schema.flat()


def scoring_schema(config) -> LabelSchema:
    """scoring_for() of a checkpoint's ml_config (the schema read from its dict)."""
    return scoring_for(LabelSchema.from_config(config), config['ml_head'])
