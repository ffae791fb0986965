from .aam import AsymmetricAngularMarginLoss
from .attribute_ce import AttributeCrossEntropy
from .csl import PARTIAL_MODES, ClassAwareSelectiveLoss
from .factory import ML_LOSSES, create_ml_loss, loss_kwargs
from .masked import MaskedMultiLabelLoss
from .prior import estimate_class_prior, label_frequency_prior, read_class_prior, write_class_prior
