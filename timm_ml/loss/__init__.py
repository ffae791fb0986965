from .aam import AsymmetricAngularMarginLoss
from .group_ce import GroupCrossEntropy
from .csl import PARTIAL_MODES, ClassAwareSelectiveLoss
from .factory import ML_LOSSES, REDUCTIONS, create_ml_loss, create_ml_losses
from .masked import MaskedMultiLabelLoss
from .prior import (estimate_and_write_class_prior, estimate_class_prior, label_frequency_prior, read_class_prior,
                    write_class_prior)
