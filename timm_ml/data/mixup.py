""" timm Mixup / CutMix for targets that carry unknowns (-1)."""
import torch
from timm.data import Mixup


class PartialLabelMixup(Mixup):
    """ timm's Mixup(multi_label=True); an entry stays unknown (-1) if it was unknown in either mixed image.

    timm mixes each image with the batch flipped (x.flip(0)) in every mode, so the same flip decides the mask.
    """

    def __init__(self, **kwargs):
        kwargs['multi_label'] = True
        super().__init__(**kwargs)

    def __call__(self, x, target):
        known = target >= 0
        x, mixed = super().__call__(x, target.clamp(min=0))
        if not known.all():
            mixed = torch.where(known & known.flip(0), mixed, torch.full_like(mixed, -1.))
        return x, mixed
