from .backbone import Backbone, as_sequential_for_ML
from .factory import ML_HEADS, MultiLabelModel, create_ml_model, create_model_from_config, scores_from_logits
from .heads import AttributeHead, CosineHead, LinearHead
from .ml_decoder import MLDecoderHead
