from .backbone import Backbone
from .checkpoint import (load_checkpoint_weights, load_initial_checkpoint, load_model_from_checkpoint,
                         read_checkpoint_config)
from .cosine_head import CosineHead
from .factory import (GRAPH_HEADS, MultiLabelModel, create_ml_model, create_model_from_config, head_classifier,
                      head_on_features, head_parameters, label_graph_kwargs, timm_model_of)
from .gcn_head import GCNHead
from .label_embeddings import LabelEmbeddingError, read_label_embeddings
from .label_graph import conditional_cooccurrence, gcn_adjacency
from .ml_decoder import MLDecoderHead
from .pretrained import load_pretrained_file
from .ssgrl_head import SSGRLHead
