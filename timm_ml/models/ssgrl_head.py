""" SSGRL head (Chen et al., ICCV 2019, arXiv 1908.07325): semantic decoupling + gated graph network.

1. Semantic decoupling: for each class c, attention over the N positions of the feature map guided by its label
   embedding: a_cn = fc_a(fc_3(tanh(fc_1(f_n) * fc_2(e_c)))), softmax over n, and the class feature is sum_n a_cn f_n.
   fc_3 and fc_a are both linear with nothing between them (as in the reference), so they are applied as one vector
   product: the same function and gradients without the (B, C, N, A) x (A, A) product.
2. A gated graph neural network over the label graph: T steps of
   a = [P h, P^T h],  z = sigmoid(W_z a + U_z h),  r = sigmoid(W_r a + U_r h),  h~ = tanh(W a + U (r * h)),
   h = (1 - z) h + z h~, with P(j | i) of the training labels as the in-matrix (a buffer).
3. Output: o_c = tanh(fc_out([h_c, f_c])), logit_c = <w_c, o_c> + b_c (one weight vector per class).

The map comes through the generic truncation as tokens, so any timm CNN or ViT works.
"""
from typing import Optional

import torch
import torch.nn as nn

from .label_embeddings import attach_label_embeddings


class GatedGraphNetwork(nn.Module):
    """ Args: dim: Node width. time_steps: Propagation steps (3)."""

    def __init__(self, dim: int, time_steps: int = 3):
        super().__init__()
        self.time_steps = time_steps
        self.update_w, self.update_u = nn.Linear(2 * dim, dim), nn.Linear(dim, dim)
        self.reset_w, self.reset_u = nn.Linear(2 * dim, dim), nn.Linear(dim, dim)
        self.state_w, self.state_u = nn.Linear(2 * dim, dim), nn.Linear(dim, dim)

    def forward(self, h: torch.Tensor, in_matrix: torch.Tensor) -> torch.Tensor:
        in_matrix = in_matrix.to(h.dtype)
        for _ in range(self.time_steps):
            a = torch.cat([in_matrix @ h, in_matrix.t() @ h], dim=-1)
            z = torch.sigmoid(self.update_w(a) + self.update_u(h))
            r = torch.sigmoid(self.reset_w(a) + self.reset_u(h))
            state = torch.tanh(self.state_w(a) + self.state_u(r * h))
            h = (1 - z) * h + z * state
        return h


class SSGRLHead(nn.Module):
    """ Args:
        in_features: Token width D.
        num_classes: C.
        cond_prob: (C, C) P(j | i) of the training labels (None when rebuilding: the checkpoint fills it).
        embeddings: (C, embed_dim) label embeddings from a file, or None (learned).
        embed_dim: Label embedding width (300).
        attention_dim: Semantic-decoupling width (1024).
        graph_dim: GGNN node width (default D, as in the paper; a smaller width adds a D -> graph_dim projection).
        time_steps: GGNN steps (3).
        learn_embeddings: Train the embeddings (True without a file).
    """
    wants_tokens = True

    def __init__(self, in_features: int, num_classes: int, cond_prob=None, embeddings=None, embed_dim: int = 300,
                 attention_dim: int = 1024, graph_dim: Optional[int] = None, time_steps: int = 3,
                 learn_embeddings: Optional[bool] = None):
        super().__init__()
        graph_dim = graph_dim or in_features
        in_matrix = torch.zeros(num_classes, num_classes) if cond_prob is None else torch.as_tensor(
            cond_prob, dtype=torch.float32)
        self.register_buffer('in_matrix', in_matrix)
        attach_label_embeddings(self, num_classes, embed_dim, embeddings is None if learn_embeddings is None
                                else learn_embeddings, embeddings)
        self.fc_1 = nn.Linear(in_features, attention_dim, bias=False)
        self.fc_2 = nn.Linear(embed_dim, attention_dim, bias=False)
        self.fc_3 = nn.Linear(attention_dim, attention_dim)
        self.fc_a = nn.Linear(attention_dim, 1)
        self.project = nn.Linear(in_features, graph_dim) if graph_dim != in_features else None
        self.ggnn = GatedGraphNetwork(graph_dim, time_steps)
        self.fc_out = nn.Linear(2 * graph_dim, graph_dim)
        self.class_weight = nn.Parameter(torch.empty(num_classes, graph_dim))
        self.class_bias = nn.Parameter(torch.zeros(num_classes))
        nn.init.uniform_(self.class_weight, -graph_dim ** -0.5, graph_dim ** -0.5)

    def decouple(self, tokens: torch.Tensor) -> torch.Tensor:
        """(B, N, D) tokens -> (B, C, D) class features."""
        guide = self.fc_2(self.label_embeddings.to(tokens.dtype))                # (C, A)
        joint = torch.tanh(self.fc_1(tokens).unsqueeze(1) * guide[None, :, None])  # (B, C, N, A)
        attn_vector = self.fc_a.weight @ self.fc_3.weight                          # fc_a(fc_3(.)) as one product
        attn_bias = self.fc_a(self.fc_3.bias.unsqueeze(0))
        scores = (joint @ attn_vector.t().to(joint.dtype)).squeeze(-1) + attn_bias.to(joint.dtype)
        return scores.softmax(dim=-1) @ tokens                                     # (B, C, D)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        features = self.decouple(tokens)
        if self.project is not None:
            features = self.project(features)
        h = self.ggnn(features, self.in_matrix)
        out = torch.tanh(self.fc_out(torch.cat([h, features], dim=-1)))
        return (out * self.class_weight.to(out.dtype)).sum(-1) + self.class_bias.to(out.dtype)
