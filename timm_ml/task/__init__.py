from .distillation import FILL_MODES, MultiLabelDistillationTask, MultiLabelFeatureDistillationTask, loss_weights
from .multilabel import MultiLabelTask, MultiLabelTaskState
