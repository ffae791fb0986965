""" timm Mixup / CutMix for targets that carry unknowns (-1)."""
import torch
from timm.data import FastCollateMixup, Mixup
from torch.utils.data import default_collate


def keep_unknown(mixed: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mixed targets with -1 wherever either mixed image's entry was unknown (timm pairs image i with the batch
    flipped, image B - 1 - i, in every mode)."""
    known = target >= 0
    if known.all():
        return mixed
    both = (known & known.flip(0))[:mixed.shape[0]]
    return torch.where(both, mixed, torch.full_like(mixed, -1.))


class PartialLabelMixup(Mixup):
    """ timm's Mixup(multi_label=True) on the device; an entry stays unknown (-1) if it was unknown in either image.

    Args: timm's Mixup arguments (multi_label is set).
    """

    def __init__(self, **kwargs):
        kwargs['multi_label'] = True
        super().__init__(**kwargs)

    def __call__(self, x, target):
        x, mixed = super().__call__(x, target.clamp(min=0))
        return x, keep_unknown(mixed, target)


class PartialLabelFastCollateMixup(FastCollateMixup):
    """ timm's FastCollateMixup(multi_label=True), mixing while collating (timm's prefetcher path); an entry stays
    unknown (-1) if it was unknown in either image.

    Args: timm's FastCollateMixup arguments (multi_label is set).
    """

    def __init__(self, **kwargs):
        kwargs['multi_label'] = True
        super().__init__(**kwargs)

    def __call__(self, batch, _=None):
        target = default_collate([b[1] for b in batch])
        output, mixed = super().__call__([(b[0], t) for b, t in zip(batch, target.clamp(min=0))])
        return output, keep_unknown(mixed, target)
