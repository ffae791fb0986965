from .backbone import Backbone, as_sequential_for_ML
from .factory import (ML_HEADS, MultiLabelModel, create_ml_model, create_model_from_config, head_classifier, ml_model_kwargs,
                      scores_from_logits, timm_model_of)
from .heads import CosineHead
from .ml_decoder import MLDecoderHead
