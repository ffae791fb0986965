from .backbone import Backbone, as_sequential_for_ML
from .factory import (GRAPH_HEADS, HEAD_RECIPES, ML_HEADS, MultiLabelModel, create_ml_model, create_model_from_config,
                      head_classifier, head_parameters, label_graph_kwargs, ml_model_kwargs, scores_from_logits,
                      timm_model_of)
from .gcn_head import GCNHead
from .heads import CosineHead
from .label_embeddings import LabelEmbeddingError, read_label_embeddings
from .label_graph import conditional_cooccurrence, gcn_adjacency
from .ml_decoder import MLDecoderHead
from .ssgrl_head import SSGRLHead
