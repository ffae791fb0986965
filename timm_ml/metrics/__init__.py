from .average_precision import masked_average_precision
from .evaluator import MultiLabelEvaluator
from .f1 import confusion_counts, precision_recall_f1
from .groups import classification_metrics, consistency_rate, group_metrics
from .multilabel import MultiLabelResult, compute_multilabel_metrics, headline_metric, metric_names
from .thresholds import ThresholdFileError, estimate_thresholds, read_thresholds, save_thresholds, save_thresholds_csv
