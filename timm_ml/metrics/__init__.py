from .attributes import attribute_metrics
from .average_precision import masked_average_precision
from .evaluator import MultiLabelEvaluator
from .f1 import confusion_counts, precision_recall_f1
from .multilabel import MultiLabelResult, compute_multilabel_metrics
from .thresholds import estimate_thresholds, save_thresholds, save_thresholds_csv
