""" Scores of a trained model on a cached split: the model's head on the cached features (`forward_head`), no image
decoded: how a search or an audit scores test splits and held-out folds in seconds."""
from typing import Tuple

import torch

from timm_ml.data.feature_cache import FeatureDataset, cache_label_set
from timm_ml.models import load_model_from_checkpoint


@torch.no_grad()
def head_logits(model: torch.nn.Module, dataset: FeatureDataset, batch_size: int = 256) -> torch.Tensor:
    """(N, C) float32 logits of `model`'s head on every cached feature of `dataset`, in order."""
    model.eval()
    out = []
    for start in range(0, len(dataset), batch_size):
        feats = torch.stack([dataset.features(i) for i in range(start, min(len(dataset), start + batch_size))])
        out.append(model.forward_head(feats).float())
    return torch.cat(out) if out else torch.zeros(0, len(dataset.classes))


def cache_scores(checkpoint: str, cache: str, split: str) -> Tuple[torch.Tensor, torch.Tensor, dict]:
    """(logits, targets, ml_config) of a timm_ml checkpoint on a cached split."""
    model, config, _ = load_model_from_checkpoint(checkpoint)
    labels = cache_label_set(cache, split)
    if labels.classes != config['classes']:
        raise ValueError(f'{checkpoint}: trained on other classes than the cache {cache}')
    dataset = FeatureDataset(cache, labels)
    return head_logits(model, dataset), torch.from_numpy(labels.targets.dense()).float(), config
