""" The label sets of train.py / validate.py / infer.py from their command lines (the adapter between argparse and
`read_label_set`), and what a checkpoint records about the data so later runs read it the same way."""
import logging
import os
from typing import Any, Dict, Optional, Tuple

from timm_ml.config import LABEL_OPTIONS, LabelsConfig
from timm_ml.schema import LabelSchema

from .data_card import data_card, log_card
from .feature_cache import cache_label_set
from .label_set import LabelSet, class_difference
from .partial import simulate_partial
from .readers import LabelFileError, LabelOptions, read_class_list, read_label_set
from .readers.reader_hfds import read_hf_split
from .streams import read_stream_split

_logger = logging.getLogger(__name__)


def saved_for_root(saved: Dict[str, Any], root: Optional[str], image_dir_given: bool = False,
                   log: bool = True) -> Dict[str, Any]:
    """The checkpoint's label options for reading `root`: an absolute --image-dir training used names the images of
    its own data root; on another root (new data, another label file) it would read the old images under the new
    labels, so it is dropped (a relative one is relative to the new root, as it was to the old). --allow-outside-root
    is never taken from a checkpoint (a checkpoint from someone else must not open this machine's files)."""
    saved = {k: v for k, v in saved.items() if k != 'allow_outside_root'}  # only the user turns the path guard off
    image_dir = saved.get('image_dir')
    here = os.path.abspath(root) if root else ''
    if image_dir and not image_dir_given and os.path.isabs(image_dir) and here and saved.get('root') and \
            here != saved['root'] and not here.startswith(saved['root'].rstrip(os.sep) + os.sep):
        if log:
            _logger.warning(f'Not reusing the training --image-dir {image_dir}: it belongs to the data root '
                            f'{saved["root"]}, not {os.path.abspath(root)} (give --image-dir to choose the images).')
        saved = dict(saved, image_dir=None)
    return saved


def reader_options(opts: Dict[str, Any], on_bad: str = 'error', schema: Optional[LabelSchema] = None,
                   classes=None) -> Tuple[str, LabelOptions]:
    """(label format, LabelOptions) from the label-parsing options (LabelsConfig.options())."""
    extra = {}
    if opts.get('split_seed') is not None:
        extra['split_seed'] = int(opts['split_seed'])
    if opts.get('split_fractions') is not None:
        extra['split_fractions'] = tuple(float(f) for f in opts['split_fractions'])
    options = LabelOptions(
        classes=list(classes) if classes is not None else None, schema=schema,
        label_delimiter=opts.get('label_delimiter'), path_column=opts.get('path_column'),
        labels_column=opts.get('labels_column'), attribute_columns=opts.get('attribute_columns'),
        tree_columns=opts.get('tree_columns'), unknown_values=tuple(opts.get('unknown_values') or ()),
        image_dir=opts.get('image_dir'), on_bad=on_bad, allow_outside_root=bool(opts.get('allow_outside_root')),
        value_map=opts.get('value_map'), uncertain=opts.get('uncertain'), top_classes=opts.get('top_classes'), **extra)
    return opts.get('label_format') or 'auto', options


def read_split(cfg: LabelsConfig, root: Optional[str], split: str, label_format: str, options: LabelOptions,
               log: bool = True, split_flag: str = '--train-split'):
    """One split: label files in a folder (`dataset` empty), WebDataset shards (`wds/`) or a Hugging Face dataset
    (`hfds/<name or folder>`), timm's --dataset prefixes."""
    if cfg.features:
        return cache_label_set(cfg.features, split, bool(cfg.allow_outside_root))
    dataset = cfg.dataset or ''
    prefix, _, name = dataset.partition('/')
    prefix = prefix.lower()
    if prefix == 'wds':
        labels = read_stream_split(root or name, split)
        if options.classes is not None and labels.classes != list(options.classes):
            raise LabelFileError(
                f'{labels.source}: {class_difference(options.classes, labels.classes, "training", "shards")}')
        return labels
    if prefix in ('hfds', 'hfids'):
        return read_hf_split(name or root, split, options, cfg.input_key, cfg.target_key, cfg.trust_remote_code)
    if prefix:
        raise LabelFileError(f'--dataset {dataset!r}: multi-label sources are wds/<shards>, hfds/<name or folder>; '
                             'leave --dataset empty for label files in the data folder')
    return read_label_set(root, split, label_format, options, log=log, split_flag=split_flag)


def create_label_sets(cfg: LabelsConfig, ml_head: Optional[str] = None, sampler: str = 'uniform',
                      log: bool = True) -> Tuple[LabelSet, Optional[LabelSet]]:
    """ A training run's label sets: the train split defines the classes and groups (or --class-map the order), val must
    hold them. --simulate-partial hides training annotations (seeded by cfg.seed).

    Args:
        cfg: The labels config. ml_head / sampler: What needs every target in memory (refused on streams).
        log: Log what was read.
    """
    label_format, options = reader_options(cfg.options(), cfg.bad_images)
    if cfg.class_map:
        options.classes = read_class_list(cfg.class_map)
    train = read_split(cfg, cfg.root, cfg.train_split, label_format, options, split_flag='--train-split')
    val = None
    if cfg.val_split:
        val = read_split(cfg, cfg.root, cfg.val_split, label_format, options.with_classes(train.schema),
                         split_flag='--val-split')
        if val.classes != train.classes:
            difference = class_difference(train.classes, val.classes, 'train split', 'val split')
            raise LabelFileError(f'{val.source} ({val.format}) does not hold the classes of {train.source} '
                                 f'({train.format}): {difference}')
    if getattr(train, 'streamed', False):
        for flag, given in (('--simulate-partial', cfg.simulate_partial), ('--sampler balanced', sampler == 'balanced'),
                            ('--ml-head gcn / ssgrl', ml_head in ('gcn', 'ssgrl'))):
            if given:
                raise LabelFileError(f'{flag} needs every training target in memory; streamed shards keep only '
                                     'class counts: hide annotations when writing the shards, or train from the folder')
    if cfg.class_map and train.schema.groups:
        raise LabelFileError(f'--class-map {cfg.class_map}: {train.source} holds exclusive groups (attributes), whose '
                             'classes and order come from the groups themselves; a class list cannot reorder or '
                             'select them. Drop --class-map (use --attribute-columns to select attributes).')
    if cfg.simulate_partial:
        if train.schema.groups:
            raise LabelFileError('--simulate-partial hides single class entries; on data with exclusive groups (one '
                                 'softmax per attribute) that leaves no group fully known. Hide annotations in the '
                                 'label file (#N/A cells) instead.')
        train.targets = simulate_partial(train.targets, cfg.simulate_partial, seed=cfg.seed)
    counts = train.targets.class_counts()
    if counts.sum() and counts[0].sum() + counts[1].sum() == 0:
        raise LabelFileError(f'{train.source}: no known annotation left (every entry is unknown'
                             + (f' after --simulate-partial {cfg.simulate_partial}' if cfg.simulate_partial else '')
                             + '): there is nothing to train on.')
    if val is not None and val.targets.class_counts()[0].sum() == 0:
        raise LabelFileError(f'{val.source}: no known positive in the validation split: every metric would be '
                             'undefined (reported as 0 it would look like a result). Annotate it or choose another '
                             '--val-split.')
    log_card(data_card([('train', train), ('val', val)]), grouped=bool(train.schema.groups), log=log)
    if log:
        for name, labels in (('train', train), ('val', val)):
            if labels is not None:
                _logger.info(f'{name} ({labels.split}): {labels.describe()}')
        shared = shared_images(train, val)
        if shared:
            _logger.warning(f'{shared} of {len(val)} val images ({val.source}) are also training images '
                            f'({train.source}): val metrics, thresholds and model_best would be measured on '
                            'training images. Give a --val-split disjoint from the training split.')
    return train, val


def shared_images(train, val) -> int:
    """How many images of val are also in train: by file for image folders, by image content for rows of a Hugging Face
    dataset (never by row number); 0 for streamed splits (their paths are not in memory)."""
    if val is None or getattr(train, 'streamed', False) or getattr(val, 'streamed', False):
        return 0
    train_rows, val_rows = getattr(train, 'images', None), getattr(val, 'images', None)
    if train_rows is not None or val_rows is not None:
        if not (hasattr(train_rows, 'digests') and hasattr(val_rows, 'digests')):
            return 0
        seen = set(d for d in train_rows.digests() if d)
        return sum(1 for d in val_rows.digests() if d and d in seen)
    val_files = {os.path.normpath(os.path.join(val.root, p)) for p in val.paths}
    return len({f for f in (os.path.normpath(os.path.join(train.root, p)) for p in train.paths) if f in val_files})


def data_record(cfg: LabelsConfig, train: LabelSet, val: Optional[LabelSet]) -> Dict[str, Any]:
    """What a checkpoint remembers of the data: root, splits as asked, the format found, the label options."""
    record = dict(cfg.options(), label_format=cfg.label_format if cfg.features else train.format,
                  root=os.path.abspath(cfg.root) if cfg.root else None, dataset=cfg.dataset or '',
                  train_split=cfg.train_split, val_split=cfg.val_split if val is not None else None,
                  image_root=os.path.abspath(train.root) if train.root else None)
    for k in ('unknown_values', 'attribute_columns', 'tree_columns', 'split_fractions'):
        if record.get(k) is not None:
            record[k] = list(record[k])
    if record.get('image_dir'):
        record['image_dir'] = os.path.abspath(record['image_dir'])  # as given, it was relative to the working folder
    return record


def create_eval_label_set(cfg: LabelsConfig, split: str, config: Dict[str, Any], on_bad: str = 'error',
                          log: bool = True) -> LabelSet:
    """ A split read the way the checkpoint's training read its data (its label options unless given again in `cfg`),
    holding exactly the checkpoint's classes and groups.

    Args:
        cfg: The options given on this command line (None fields: the checkpoint's). split: The split to read.
        config: The checkpoint's ml_config. on_bad: 'error' or 'skip'.
    """
    saved = saved_for_root(dict(config.get('data') or {}, **{k: config[k] for k in LABEL_OPTIONS
                                                             if config.get(k) is not None}),
                           cfg.root, image_dir_given=cfg.image_dir is not None, log=log)
    cfg = cfg.with_saved(saved)
    label_format, options = reader_options(cfg.options(), on_bad, LabelSchema.from_config(config))
    labels = read_split(cfg, cfg.root, split, label_format, options, log=log, split_flag='--split')
    if labels.classes != config['classes']:
        raise LabelFileError(f'{labels.source} ({labels.format}) does not hold the classes of the checkpoint: '
                             f'{class_difference(config["classes"], labels.classes)}')
    log_card(data_card([('evaluated', labels)]), grouped=bool(options.schema and options.schema.groups), log=log)
    return labels
