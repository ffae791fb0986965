""" Backbone truncation: any timm model -> unpooled features

Uses timm's own hooks (forward_features / forward_head / reset_classifier / num_features) rather than per-family
code, so every timm architecture works: CNNs give NCHW maps, ViT-like models give NLC tokens, Swin-like NHWC maps.
"""
import torch
import torch.nn as nn


class Backbone(nn.Module):
    """ A timm model without its classifier.

    Args:
        model: A timm model; its classifier is removed with reset_classifier(0), its pooling is kept for `pool`.
    """

    def __init__(self, model: nn.Module):
        super().__init__()
        model.reset_classifier(0)
        self.model = model
        self.num_features = model.num_features
        self.head_hidden_size = getattr(model, 'head_hidden_size', None) or model.num_features
        self.output_fmt = str(getattr(model, 'output_fmt', 'NCHW'))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Unpooled features: (B, D, H, W), (B, H, W, D) or (B, N, D) as the model produces them."""
        return self.model.forward_features(x)

    def pool(self, features: torch.Tensor) -> torch.Tensor:
        """(B, head_hidden_size) pre-logits exactly as the stock timm classifier sees them."""
        return self.model.forward_head(features, pre_logits=True)

    def tokens(self, features: torch.Tensor) -> torch.Tensor:
        """(B, N, num_features) tokens for query-based heads."""
        if features.ndim == 3:
            return features
        if features.ndim != 4:
            raise ValueError(f'Unsupported feature shape {tuple(features.shape)}')
        if self.output_fmt == 'NHWC':
            return features.flatten(1, 2)
        return features.flatten(2).transpose(1, 2)
