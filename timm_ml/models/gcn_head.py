""" ML-GCN head (Chen et al., CVPR 2019, arXiv 1904.03582) on the pooled features of any timm model.

Two graph convolutions over the label graph turn label embeddings into one classifier vector per class:
    H1 = LeakyReLU_0.2(A E W1),  W = A H1 W2  (C, D),  logits = pooled @ W^T.
A is gcn_adjacency() of the training labels (a buffer: checkpoints carry it). The 'otx' variant (the OTX /
deep-object-reid tutorial) instead max-pools W over the classes into a channel gate, sigmoid(max_c W), multiplies the
pooled features by it and classifies them with a linear layer.
"""
import math
from typing import Optional

import torch
import torch.nn as nn

from .label_embeddings import attach_label_embeddings
from .label_graph import gcn_adjacency

GCN_VARIANTS = ('paper', 'otx')


class GraphConvolution(nn.Module):
    """ H' = A (H W), no bias (as in ML-GCN), weight initialised U(-1/sqrt(out), 1/sqrt(out)).

    Args:
        in_features, out_features: Node feature widths.
    """

    def __init__(self, in_features: int, out_features: int):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(in_features, out_features))
        bound = 1. / math.sqrt(out_features)
        nn.init.uniform_(self.weight, -bound, bound)

    def forward(self, x: torch.Tensor, adjacency: torch.Tensor) -> torch.Tensor:
        return adjacency @ (x @ self.weight)


class GCNHead(nn.Module):
    """ Args:
        in_features: Pooled feature width D (the classifier vectors have this width).
        num_classes: C.
        cond_prob: (C, C) P(j | i) of the training labels (None when rebuilding: the checkpoint fills the graph).
        embeddings: (C, embed_dim) label embeddings from a file, or None.
        embed_dim: Label embedding width (300, GloVe's).
        hidden_dim: Width of the first graph convolution (1024).
        tau, rho: Graph binarisation threshold and neighbour weight (0.4, 0.25).
        variant: 'paper' (GCN outputs are the classifiers) or 'otx' (GCN outputs gate the channels).
        learn_embeddings: Train the embeddings (True without a file).
    """
    wants_tokens = False

    def __init__(self, in_features: int, num_classes: int, cond_prob=None, embeddings=None, embed_dim: int = 300,
                 hidden_dim: int = 1024, tau: float = 0.4, rho: float = 0.25, variant: str = 'paper',
                 learn_embeddings: Optional[bool] = None):
        super().__init__()
        if variant not in GCN_VARIANTS:
            raise ValueError(f'Unknown GCN variant {variant!r}, expected one of {GCN_VARIANTS}')
        adjacency = torch.eye(num_classes) if cond_prob is None else torch.as_tensor(
            gcn_adjacency(cond_prob, tau, rho), dtype=torch.float32)
        self.register_buffer('adjacency', adjacency)
        attach_label_embeddings(self, num_classes, embed_dim, embeddings is None if learn_embeddings is None
                                else learn_embeddings, embeddings)
        self.gc1 = GraphConvolution(embed_dim, hidden_dim)
        self.gc2 = GraphConvolution(hidden_dim, in_features)
        self.act = nn.LeakyReLU(0.2)
        self.fc = nn.Linear(in_features, num_classes) if variant == 'otx' else None

    def class_vectors(self) -> torch.Tensor:
        """(C, D) graph outputs."""
        return self.gc2(self.act(self.gc1(self.label_embeddings, self.adjacency)), self.adjacency)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        vectors = self.class_vectors().to(x.dtype)
        if self.fc is None:
            return x @ vectors.t()
        return self.fc(x * vectors.max(0).values.sigmoid())
