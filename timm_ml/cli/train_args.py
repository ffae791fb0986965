""" train.py's command line, multi-label side: the flags timm's parser lacks, the defaults that differ, the checks
that stop a run before any work, and the one adapter turning the parsed namespace into typed configs."""
import logging
import math
import os
from typing import Sequence

from timm_ml.config import (DistillConfig, EvalConfig, HeadConfig, LabelsConfig, LossConfig, SamplerConfig, TrainConfig,
                            config_from)
from timm_ml.data import parse_partial_spec
from timm_ml.data.feature_cache import read_cache_info
from timm_ml.data.label_args import add_label_args
from timm_ml.loss import ML_LOSSES, PARTIAL_MODES
from timm_ml.recipes import ML_HEADS, resolve_head_lr_scale
from timm_ml.task import FILL_MODES

_logger = logging.getLogger('train')

# timm's defaults that are single-label ImageNet recipes: no smoothing (towards 0.5 it moves every known negative of a
# multi-label set, and none of the methods here uses it); the headline metric of the labels (map or attr_mean_acc);
# the CPU when there is no CUDA device; distillation temperature 1 (timm's 4 flattens a sigmoid's probabilities towards
# 0.5, turning every confident negative into a soft target)
DEFAULTS = dict(smoothing=0.0, eval_metric=None, device=None, kd_temperature=1.0)
DEFAULT_HELP = dict(
    smoothing='label smoothing (default: 0, multi-label: smoothing moves every known negative towards 0.5)',
    eval_metric='best metric, a summary.csv eval column (default: map, or attr_mean_acc for exclusive groups)',
    device='device (accelerator) to use (default: cuda when available, else cpu)',
    kd_temperature='distillation temperature of the sigmoids / group softmaxes (default: 1; the loss is scaled by T^2)',
    kd_model_name='a stock timm model as the teacher (its outputs named by --kd-class-map; --kd-checkpoint for a '
                  'timm_ml teacher)',
    kd_distill_type='logit (per class / per group KL, default) or feature (timm\'s pooled-feature MSE); token is '
                    'single-label')


NOT_APPLICABLE = {
    'dataset_download': '--dataset-download: nothing is downloaded; point the data folder at label files',
    'aug_splits': '--aug-splits (AugMix splits) feeds the single-label JSD loss, which has no multi-label form here',
    'jsd_loss': '--jsd-loss is a single-label (softmax) loss; choose a multi-label --loss',
    'split_bn': '--split-bn needs --aug-splits, which multi-label training does not support',
    'torchscript': '--torchscript: the multi-label heads are not TorchScript-compatible; use --torchcompile',
    'naflex_loader': '--naflex-loader: the NaFlex loader and its mixup have no unknown-label (-1) handling',
    'kd_token_distill_type': '--kd-token-distill-type: token distillation trains a distillation token with the '
                             'teacher\'s softmax argmax, a single-label target; use --kd-distill-type logit',
    'train_num_samples': '--train-num-samples: streamed splits read every sample of their shards each epoch',
    'val_num_samples': '--val-num-samples: streamed splits read every sample of their shards',
}
NAFLEX_FLAGS = ('naflex_patchify_channels_first', 'naflex_train_seq_lens', 'naflex_patch_sizes',
                'naflex_patch_size_probs', 'naflex_max_seq_len', 'naflex_loss_scale')


def add_ml_args(parser):
    """The multi-label flags (groups of their own) and the defaults that differ from timm's."""
    group = add_label_args(parser.add_argument_group('Multi-label data parameters'))
    group.add_argument('--features', default=None, type=str, metavar='CACHE',
                       help='train the head on a feature cache (python -m timm_ml.features) instead of the images: '
                            'the backbone and preprocessing are the cache\'s; the checkpoint validates and exports on '
                            'images like any run')
    group.add_argument('--bad-images', default='error', choices=('error', 'skip'),
                       help='unreadable images / malformed label rows: error (default) or counted, logged skip')
    group.add_argument('--verify-images', default=None, choices=('none', 'header', 'full'),
                       help='check every image of train and val before training: header (fast: missing, empty, '
                            'non-image files) or full decode (truncated files too) (default: full with --bad-images '
                            'skip, else none)')
    group.add_argument('--sampler', default='uniform', choices=('uniform', 'balanced'),
                       help='training sampler: uniform (timm default) or balanced (oversample rare classes / values)')
    group.add_argument('--sampler-power', type=float, default=1.0,
                       help='balanced sampler: image weight = (max class count / rarest class count) ** power')
    group.add_argument('--sampler-cap', type=float, default=10.0, help='balanced sampler: largest image weight')
    group.add_argument('--simulate-partial', default=None, type=str, metavar='SPEC',
                       help='hide training annotations: rps:P (each with prob. P) or fpc:N (N pos + N neg per class)')

    group = parser.add_argument_group('Multi-label head parameters')
    group.add_argument('--ml-head', default=None, choices=ML_HEADS,
                       help='classification head: linear | attributes | hierarchical | mldecoder | cosine | gcn | ssgrl '
                            '(default: attributes / hierarchical for labels with exclusive groups, else linear)')
    group.add_argument('--mld-groups', type=int, default=100, help='ML-Decoder query groups (default: 100)')
    group.add_argument('--mld-dim', type=int, default=768, help='ML-Decoder embedding size (default: 768)')
    group.add_argument('--mld-heads', type=int, default=8, help='ML-Decoder attention heads (default: 8)')
    group.add_argument('--mld-ff', type=int, default=2048, help='ML-Decoder feed-forward size (default: 2048)')
    group.add_argument('--mld-dropout', type=float, default=0.1, help='ML-Decoder dropout (default: 0.1)')
    group.add_argument('--label-embeddings', default=None, type=str, metavar='FILE',
                       help='gcn / ssgrl: label embeddings, .npy (C, d) in class order or a GloVe-style text file '
                            '(word v1 ... vd) matched by class name (default: learned embeddings)')
    group.add_argument('--label-embed-dim', type=int, default=300,
                       help='gcn / ssgrl: width of learned label embeddings (default: 300; a file sets its own)')
    group.add_argument('--gcn-variant', default='paper', choices=('paper', 'otx'),
                       help='gcn: paper (graph outputs are the classifiers, default) | otx (graph outputs gate '
                            'channels)')
    group.add_argument('--gcn-hidden-dim', type=int, default=1024, help='gcn: first graph layer width (default: 1024)')
    group.add_argument('--gcn-tau', type=float, default=0.4, help='gcn: graph binarisation threshold (default: 0.4)')
    group.add_argument('--gcn-rho', type=float, default=0.25, help='gcn: neighbour re-weighting (default: 0.25)')
    group.add_argument('--ssgrl-steps', type=int, default=3, help='ssgrl: gated graph propagation steps (default: 3)')
    group.add_argument('--ssgrl-attention-dim', type=int, default=1024,
                       help='ssgrl: semantic decoupling width (default: 1024)')
    group.add_argument('--ssgrl-graph-dim', type=int, default=None,
                       help='ssgrl: graph node width (default: the backbone width, as in the paper)')
    group.add_argument('--cosine-scale', type=float, default=None, help='cosine head scale s (default: --aam-s)')
    group.add_argument('--head-lr-scale', type=float, default=None,
                       help='learning rate of the multi-label head relative to --lr (default: the head recipe, 1)')

    group = parser.add_argument_group('Multi-label loss parameters')
    group.add_argument('--loss', default=None, choices=ML_LOSSES,
                       help='bce | asl | aam | csl | ce (group heads) | poly | twoway | zlpr | db (default: the head '
                            'recipe: bce for linear, asl for mldecoder, aam for cosine, ce for the group heads)')
    group.add_argument('--gamma-pos', type=float, default=None, help='positive focusing (asl 0, csl 0, aam 0)')
    group.add_argument('--gamma-neg', type=float, default=None, help='negative focusing (asl 4, csl 1, aam 0)')
    group.add_argument('--gamma-unann', type=float, default=2., help='CSL unknown focusing (default: 2)')
    group.add_argument('--clip', type=float, default=None, help='probability shift (asl 0.05, csl 0, aam 0.05)')
    group.add_argument('--loss-reduction', default=None, type=str,
                       help="asl: batchmean (default) | sum (paper); csl: sum (default, reference) | batchmean; "
                            "ce (group heads): the tags beside the groups, batchmean (default, summed per image) | mean")
    group.add_argument('--partial-loss-mode', default='negative', choices=PARTIAL_MODES, help='CSL mode')
    group.add_argument('--likelihood-topk', type=int, default=5, help='CSL selective: unknowns ignored per sample')
    group.add_argument('--prior-threshold', type=float, default=0.05, help='CSL selective: prior threshold')
    group.add_argument('--prior-path', default=None, type=str,
                       help='CSL class prior CSV (index,class,prior); selective mode without it uses the positive '
                            'rate among the known training labels')
    group.add_argument('--estimate-prior', action='store_true', default=False,
                       help='after training, write the class prior (mean sigmoid over the train set) to '
                            'class_prior.csv')
    group.add_argument('--aam-s', type=float, default=23., help='AAM scale s (default: 23, the published recipe)')
    group.add_argument('--aam-m', type=float, default=0., help='AAM margin m (default: 0, the published recipe)')
    group.add_argument('--aam-k', type=float, default=0.7, help='AAM positive weight k (default: 0.7)')

    group = parser.add_argument_group('Multi-label distillation parameters (with timm\'s --kd-model-name, '
                                      '--kd-distill-type, --kd-temperature, --distill-loss-weight, --task-loss-weight)')
    group.add_argument('--kd-checkpoint', default=None, type=str, metavar='PATH',
                       help='a timm_ml checkpoint as the teacher (any head; its classes matched to the labels\' by name)')
    group.add_argument('--kd-pretrained-path', default=None, type=str, metavar='FILE',
                       help='--kd-model-name: local weights of the stock timm teacher, classifier included')
    group.add_argument('--kd-class-map', default=None, type=str, metavar='FILE',
                       help='--kd-model-name: the teacher\'s output names in order, one a line (matched by name)')
    group.add_argument('--kd-teacher-activation', default='sigmoid', choices=('sigmoid', 'softmax'),
                       help='--kd-model-name: a sigmoid per output (a multi-label teacher, default) or one softmax '
                            '(an ImageNet classifier)')
    group.add_argument('--fill-unknown', default='none', choices=FILL_MODES,
                       help='unknown targets take the teacher\'s probabilities (teacher) or its decisions at its '
                            'thresholds (teacher-hard); known targets keep the truth (default: none)')

    group = parser.add_argument_group('Multi-label training and evaluation parameters')
    group.add_argument('--threshold', type=float, default=0.5, help='probability threshold for the F1 metrics')
    group.add_argument('--topk', type=int, default=3, help='k of the top-k F1 metrics (default: 3)')
    group.add_argument('--gc', action='store_true', default=False,
                       help='gradient centralization before each optimizer step (weights with ndim > 1)')
    group.add_argument('--gc-conv-only', action='store_true', default=False,
                       help='gradient centralization on conv kernels only (ndim > 3); implies --gc')
    group.add_argument('--early-stop-patience', type=int, default=0, metavar='N',
                       help='stop when --eval-metric has not improved for N epochs (default: 0, off)')
    group.add_argument('--early-stop-min-delta', type=float, default=0., metavar='D',
                       help='smallest change of --eval-metric that counts as an improvement (default: 0)')
    group.add_argument('--log-tensorboard', action='store_true', default=False,
                       help='also write the summary.csv metrics (and per-class AP at the end) as TensorBoard events')
    group.add_argument('--amp-impl', default='native', type=str,
                       help='AMP impl to use, "native" only (default: native)')
    group.add_argument('--no-cudnn-benchmark', action='store_true', default=False,
                       help='do not set torch.backends.cudnn.benchmark (its autotuning costs seconds at start)')
    group.add_argument('--dist-timeout', default=None, type=float, metavar='MINUTES',
                       help="process-group timeout: a rank waiting longer fails (default: torch's 30 minutes)")
    group.add_argument('--debug', action='store_true', default=False,
                       help='show the full traceback of errors (TIMM_ML_DEBUG=1 does the same)')
    parser.set_defaults(**DEFAULTS)
    restate_defaults(parser, DEFAULT_HELP)
    return parser


def restate_defaults(parser, helps):
    """timm's help texts of the options whose default or meaning differs here, restated (a --help that says
    'default: 0.1' for a default of 0 would mislead)."""
    for action in parser._actions:
        if action.dest in helps:
            action.help = helps[action.dest]


def train_config(args) -> TrainConfig:
    """The typed config of a parsed train.py command line (every field read by its flag's name: a renamed flag is an
    AttributeError here, never a silent default)."""
    root = args.data or args.data_dir
    return TrainConfig(
        labels=config_from(LabelsConfig, args, root=root, trust_remote_code=args.dataset_trust_remote_code,
                           unknown_values=tuple(args.unknown_values) if args.unknown_values else None),
        head=config_from(HeadConfig, args),
        loss=config_from(LossConfig, args),
        eval=config_from(EvalConfig, args),
        sampler=config_from(SamplerConfig, args),
        distill=config_from(DistillConfig, args),
        gc=args.gc, gc_conv_only=args.gc_conv_only, estimate_prior=args.estimate_prior,
        early_stop_patience=args.early_stop_patience, early_stop_min_delta=args.early_stop_min_delta,
        log_tensorboard=args.log_tensorboard,
    )


def apply_feature_cache(args, parser):
    """ --features: the model and preprocessing are the cache's (so the checkpoint records what the head saw); the
    flags that act on images have nothing to act on and are refused; --channels-last does not apply to token
    features (said in the log)."""
    info = read_cache_info(args.features)
    if args.model != parser.get_default('model') and args.model != info['model']:
        parser.error(f'--model {args.model}: --features {args.features} holds {info["model"]} features')
    args.model = info['model']
    dc = info['data_config']
    args.input_size, args.img_size = list(dc['input_size']), None
    args.mean, args.std, args.interpolation = list(dc['mean']), list(dc['std']), dc['interpolation']
    args.crop_pct, args.crop_mode = dc.get('crop_pct'), dc.get('crop_mode')
    image_flags = [f for f, given in (('--mixup', args.mixup > 0), ('--cutmix', args.cutmix > 0),
                                      ('--pretrained', args.pretrained), ('--pretrained-path', args.pretrained_path),
                                      ('--aa', args.aa), ('--reprob', args.reprob > 0),
                                      ('--grad-checkpointing', args.grad_checkpointing),
                                      ('--kd-checkpoint / --kd-model-name (the teacher sees images)',
                                       args.kd_checkpoint or args.kd_model_name)) if given]
    if image_flags:
        parser.error(f'{", ".join(image_flags)} act on images or the backbone; --features trains the head on fixed '
                     'features (augmented views are written into the cache: python -m timm_ml.features --views N)')
    shapes = [v.get('feature_shape') for v in info['splits'].values()]
    if args.channels_last and any(s and len(s) != 3 for s in shapes):
        _logger.info('--channels-last: the cached features are tokens (N, D), not a map; not applied')
        args.channels_last = False


def distill_problems(args):
    """What cannot work among the distillation flags."""
    problems = []
    teacher = args.kd_checkpoint or args.kd_model_name
    if args.kd_checkpoint and args.kd_model_name:
        problems.append('--kd-checkpoint and --kd-model-name both name a teacher: give one')
    if not teacher:
        given = [f for f, v in (('--fill-unknown', args.fill_unknown != 'none'), ('--kd-class-map', args.kd_class_map),
                                ('--kd-pretrained-path', args.kd_pretrained_path),
                                ('--distill-loss-weight', args.distill_loss_weight is not None),
                                ('--task-loss-weight', args.task_loss_weight is not None)) if v]
        if given:
            problems.append(f'{", ".join(given)} need a teacher: --kd-checkpoint PATH or --kd-model-name NAME')
    if args.kd_checkpoint and (args.kd_class_map or args.kd_pretrained_path):
        problems.append('--kd-class-map / --kd-pretrained-path describe a stock timm teacher (--kd-model-name); a '
                        '--kd-checkpoint carries its classes and weights')
    if teacher and args.kd_distill_type == 'token':
        problems.append('--kd-distill-type token trains a distillation token on the teacher\'s softmax argmax, a '
                        'single-label target: use logit (per class / per group) or feature')
    if args.kd_loss_type != 'kl':
        problems.append(f'--kd-loss-type {args.kd_loss_type!r}: only kl (per class / per group) is available')
    if teacher and args.kd_distill_type == 'feature' and args.fill_unknown != 'none':
        problems.append('--fill-unknown needs the teacher\'s scores: use --kd-distill-type logit')
    if args.kd_temperature <= 0:
        problems.append(f'--kd-temperature {args.kd_temperature}: must be > 0')
    for flag, value in (('--distill-loss-weight', args.distill_loss_weight), ('--task-loss-weight',
                                                                             args.task_loss_weight)):
        if value is not None and not (math.isfinite(value) and value >= 0):
            problems.append(f'{flag} {value}: a finite weight >= 0')
    return problems


def check_train_args(args, parser):
    """parser.error() for every timm option given that does not apply, and for combinations that cannot work."""
    problems = [msg for name, msg in NOT_APPLICABLE.items()
                if getattr(args, name) not in (None, False, 0, '', [], parser.get_default(name))]
    if any(getattr(args, name) != parser.get_default(name) for name in NAFLEX_FLAGS) and not args.naflex_loader:
        problems.append('--naflex-* options apply to --naflex-loader, which multi-label training does not support')
    problems += distill_problems(args)
    if args.grad_accum_steps < 1:
        problems.append(f'--grad-accum-steps {args.grad_accum_steps}: at least 1 (the batches per optimizer update)')
    if args.amp_impl != 'native':
        problems.append(f'--amp-impl {args.amp_impl!r}: only "native" (torch.amp) is available')
    if args.model_dtype not in (None, 'float32', 'float16', 'bfloat16'):
        problems.append(f'--model-dtype {args.model_dtype!r}: one of float32, float16, bfloat16')
    if args.amp and args.model_dtype not in (None, 'float32'):
        problems.append('--amp needs a float32 model (--model-dtype float32)')
    if args.amp and args.amp_dtype not in ('float16', 'bfloat16'):
        problems.append(f'--amp-dtype {args.amp_dtype!r}: float16 or bfloat16')
    if args.bce_loss and args.loss not in (None, 'bce'):
        problems.append(f'--bce-loss contradicts --loss {args.loss}')
    if (args.bce_sum or args.bce_target_thresh is not None or args.bce_pos_weight is not None) and \
            args.loss not in (None, 'bce'):
        problems.append('--bce-sum / --bce-target-thresh / --bce-pos-weight apply to the bce loss only')
    if args.head_lr_scale is not None and not args.head_lr_scale > 0:
        problems.append(f'--head-lr-scale must be > 0, got {args.head_lr_scale}')
    elif args.layer_decay is not None and args.ml_head and resolve_head_lr_scale(args.head_lr_scale,
                                                                                    args.ml_head) != 1:
        problems.append(f'--layer-decay sets its own per-layer learning rates: use it with --head-lr-scale 1 (the '
                        f'{args.ml_head} head recipe scales the head by '
                        f'{resolve_head_lr_scale(args.head_lr_scale, args.ml_head)})')
    if (args.head_init_scale is not None or args.head_init_bias is not None) and \
            (args.ml_head in ('cosine', 'ssgrl') or (args.ml_head == 'gcn' and args.gcn_variant == 'paper')):
        problems.append(f'--head-init-scale / --head-init-bias: the {args.ml_head} head has no linear classifier to '
                        'scale (its class weights are normalised or computed)')
    if args.sampler == 'balanced' and (args.aug_repeats or args.train_img_sizes):
        problems.append('--sampler balanced draws its own batches: it does not combine with --aug-repeats or '
                        '--train-img-sizes')
    if args.epoch_repeats < 0:
        problems.append('--epoch-repeats must be >= 0')
    if args.tta not in (0, 1, 2):
        problems.append('--tta: 2 averages each image with its horizontal flip; other factors need an evaluation '
                        'loader yielding augmented copies, which is not available')
    for name in ('epochs', 'topk', 'log_interval', 'checkpoint_hist'):
        if getattr(args, name) < 1:
            problems.append(f'--{name.replace("_", "-")} must be >= 1')
    if args.batch_size < 1:
        problems.append(f'-b {args.batch_size}: the batch size must be >= 1')
    if args.validation_batch_size is not None and args.validation_batch_size < 1:
        problems.append(f'--validation-batch-size {args.validation_batch_size}: must be >= 1')
    for flag, value in (('--lr', args.lr), ('--lr-base', args.lr_base)):
        if value is not None and not 0 <= value < math.inf:
            problems.append(f'{flag} {value}: a learning rate must be >= 0 and finite')
    in_chans = args.input_size[0] if args.input_size else (args.in_chans or 3)
    for flag, values in (('--mean', args.mean), ('--std', args.std)):
        if values is not None and len(values) not in (1, in_chans):
            problems.append(f'{flag} has {len(values)} values for {in_chans} input channel'
                            + (f's: give 1 or {in_chans}' if in_chans > 1 else ': give 1'))
        if values is not None and not all(math.isfinite(v) for v in values):
            problems.append(f'{flag} {" ".join(map(str, values))}: every value must be finite')
    if args.std is not None and any(not v > 0 for v in args.std):
        problems.append(f'--std {" ".join(map(str, args.std))}: every std must be > 0 (inputs are divided by it)')
    if args.input_img_mode and len(args.input_img_mode) != in_chans and args.input_img_mode not in ('I;16', 'I', 'F'):
        problems.append(f'--input-img-mode {args.input_img_mode} gives {len(args.input_img_mode)} channels, the model '
                        f'takes {in_chans} (--in-chans / --input-size)')
    if args.val_interval < 1:
        problems.append('--val-interval must be >= 1')
    if not 0 < args.threshold < 1:
        problems.append(f'--threshold {args.threshold}: a probability threshold, strictly between 0 and 1')
    if args.simulate_partial:
        try:
            parse_partial_spec(args.simulate_partial)
        except ValueError as e:
            problems.append(str(e))
    for flag, path in (('--resume', args.resume), ('--initial-checkpoint', args.initial_checkpoint),
                       ('--pretrained-path', args.pretrained_path), ('--class-map', args.class_map)):
        if path and not os.path.isfile(path):
            problems.append(f'{flag} {path}: no such file')
    if not args.dataset:
        for name in ('input_key', 'target_key', 'dataset_trust_remote_code'):
            if getattr(args, name) not in (None, False):
                problems.append(f'--{name.replace("_", "-")} applies to streamed datasets (--dataset wds/... or '
                                'hfds/...), not to label files in a folder')
    elif args.dataset.partition('/')[0].lower() not in ('wds', 'hfds', 'hfids'):
        problems.append(f'--dataset {args.dataset!r}: multi-label sources are wds/<shards>, hfds/<name or folder> or '
                        'hfids/<name>; leave --dataset empty for label files in the data folder')
    if problems:
        parser.error('; '.join(problems))


def resolve_eval_metric(name: str, available: Sequence[str]) -> str:
    """The evaluation column `name` refers to, matched case-insensitively (`mAP` -> `map`); an unknown name is an
    error listing the columns."""
    if name in available:
        return name
    folded = {a.lower(): a for a in available}
    if name.lower() in folded:
        return folded[name.lower()]
    raise ValueError(f'--eval-metric {name!r} is not an evaluation column; choose one of {list(available)}')


def check_recipe_fits(args, updates_per_epoch: int, num_epochs: int, log: bool = True):
    """ Say in the log when a default cannot fit this run, with the value that would: an EMA whose decay averages
    over more updates than the run has (model_best would track weights still near their initialisation), and a warmup
    that covers most of the run."""
    total = max(1, updates_per_epoch * num_epochs)
    notes = []
    if args.model_ema and not args.model_ema_warmup:
        window = 1. / max(1e-12, 1. - args.model_ema_decay)
        if window > total / 3:
            fit = 1. - 10. / total
            advice = f'Use --model-ema-decay {fit:.4g} (about a tenth of the run) or --model-ema-warmup.' \
                if total >= 50 else f'An EMA over {total} updates averages too little to help: drop --model-ema.'
            notes.append(f'--model-ema-decay {args.model_ema_decay} averages over ~{window:.0f} updates but the run has '
                         f'{total}: the EMA would stay near its initial weights. {advice}')
    if args.warmup_epochs and args.sched not in ('none', None) and args.warmup_epochs >= 0.5 * num_epochs:
        fit = max(0, num_epochs // 10)
        notes.append(f'--warmup-epochs {args.warmup_epochs} covers {100 * min(1., args.warmup_epochs / num_epochs):.0f}% '
                     f'of a {num_epochs}-epoch run (timm\'s default of 5 is for long ImageNet schedules): use '
                     f'--warmup-epochs {fit}.')
    if log:
        for note in notes:
            _logger.warning(note)
    return notes
