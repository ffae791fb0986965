from .dataset import BadImageError, ImageListDataset, MultiLabelDataset, load_image
from .data_card import data_card, format_card, log_card
from .dataset_factory import create_ml_dataset
from .label_set import LabelSet, check_per_class, class_difference
from .label_sets import create_eval_label_set, create_label_sets, data_record, read_split, reader_options, saved_for_root
from .loader import create_ml_loader, eval_loader_kwargs
from .mixup import PartialLabelFastCollateMixup, PartialLabelMixup
from .partial import parse_partial_spec, simulate_partial
from .readers import (LabelFileError, LabelOptions, create_label_reader, label_formats, read_class_list,
                      read_label_set, register_label_reader)
from .sampler import WeightedEpochSampler, create_train_sampler, expected_class_counts, rarity_weights
from .targets import SparseTargets, SparseTargetsBuilder
