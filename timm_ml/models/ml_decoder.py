""" ML-Decoder head (arXiv 2111.12933)

Query-based classification head: frozen group queries cross-attend to the backbone tokens through one decoder layer
without self-attention, then a group fully-connected layer maps each query to ceil(C / G) classes.
The layer is written directly (the reference subclassed torch's TransformerDecoderLayer, which current PyTorch rejects).
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F


class DecoderLayerNoSelfAttention(nn.Module):
    """ Post-norm decoder layer: q = norm1(q + drop(q)); cross-attention; feed-forward.

    Args:
        dim: Query / token embedding size.
        num_heads: Attention heads.
        dim_feedforward: Hidden size of the feed-forward block.
        dropout: Dropout on the residual branches and inside the feed-forward block.
    """

    def __init__(self, dim: int, num_heads: int = 8, dim_feedforward: int = 2048, dropout: float = 0.1):
        super().__init__()
        self.cross_attn = nn.MultiheadAttention(dim, num_heads, dropout=dropout, batch_first=True)
        self.linear1 = nn.Linear(dim, dim_feedforward)
        self.linear2 = nn.Linear(dim_feedforward, dim)
        self.norm1 = nn.LayerNorm(dim)
        self.norm2 = nn.LayerNorm(dim)
        self.norm3 = nn.LayerNorm(dim)
        self.dropout = nn.Dropout(dropout)
        self.dropout1 = nn.Dropout(dropout)
        self.dropout2 = nn.Dropout(dropout)
        self.dropout3 = nn.Dropout(dropout)

    def forward(self, query: torch.Tensor, memory: torch.Tensor) -> torch.Tensor:
        q = self.norm1(query + self.dropout1(query))
        attn = self.cross_attn(q, memory, memory, need_weights=False)[0]
        q = self.norm2(q + self.dropout2(attn))
        ff = self.linear2(self.dropout(F.relu(self.linear1(q))))
        return self.norm3(q + self.dropout3(ff))


class GroupFC(nn.Module):
    """ Per-group linear map: out[b, g, :] = h[b, g] @ W[g], flattened, first C kept, plus a bias."""

    def __init__(self, num_groups: int, dim: int, num_classes: int):
        super().__init__()
        self.num_classes = num_classes
        self.per_group = math.ceil(num_classes / num_groups)
        self.weight = nn.Parameter(torch.empty(num_groups, dim, self.per_group))
        self.bias = nn.Parameter(torch.zeros(num_classes))
        for g in range(num_groups):
            nn.init.xavier_normal_(self.weight.data[g])

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        out = torch.einsum('bgd,gdk->bgk', h, self.weight).flatten(1)
        return out[:, :self.num_classes] + self.bias


class MLDecoderHead(nn.Module):
    """ ML-Decoder classification head on (B, N, D) tokens (spatial maps are flattened by the backbone).

    Args:
        in_features: Token width D.
        num_classes: Output classes C.
        num_groups: Query groups G (capped at C); 100 by default as in the paper.
        embed_dim: Decoder width E (768 by default).
        num_heads: Attention heads (8).
        dim_feedforward: Feed-forward hidden size (2048).
        dropout: Decoder dropout (0.1).
    """
    wants_tokens = True

    def __init__(self, in_features: int, num_classes: int, num_groups: int = 100, embed_dim: int = 768,
                 num_heads: int = 8, dim_feedforward: int = 2048, dropout: float = 0.1):
        super().__init__()
        num_groups = min(num_groups, num_classes) if num_groups > 0 else num_classes
        self.embed = nn.Linear(in_features, embed_dim)
        self.query_embed = nn.Embedding(num_groups, embed_dim)
        self.query_embed.requires_grad_(False)  # queries are fixed random vectors, as in the reference
        self.decoder = DecoderLayerNoSelfAttention(embed_dim, num_heads, dim_feedforward, dropout)
        self.group_fc = GroupFC(num_groups, embed_dim, num_classes)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        memory = F.relu(self.embed(tokens))
        query = self.query_embed.weight.unsqueeze(0).expand(tokens.shape[0], -1, -1)
        return self.group_fc(self.decoder(query, memory))
