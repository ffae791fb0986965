from .dataset import BadImageError, MultiLabelDataset, load_image
from .mixup import PartialLabelMixup
from .partial import parse_partial_spec, simulate_partial
from .readers import AttributeGroup, LabelFileError, LabelSet, groups_from_class_names, read_class_list
from .reader_factory import LABEL_FORMATS, detect_label_format, read_label_file, read_labels, resolve_label_file
from .targets import SparseTargets, SparseTargetsBuilder
from .factory import LABEL_OPTIONS, attributes_of, create_label_set, create_label_sets, describe_label_set, label_options
from .loader import create_ml_loader, eval_loader_kwargs
from .sampler import WeightedEpochSampler, expected_class_counts, rarity_weights
