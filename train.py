#!/usr/bin/env python3
""" timm_ml multi-label training script

timm's train.py (huggingface/pytorch-image-models aa4b5850) for multi-label data: the dataset root as distributed
(COCO, VOC, OpenImages, Datumaro, styles.csv, ...) or a folder of label files, multi-label heads (linear, attribute /
hierarchical groups, ML-Decoder, cosine, ML-GCN, SSGRL), masked losses for unknown (-1) targets, exact masked mAP.
Same flags, same output layout (output/train/<experiment>/ with args.yaml, summary.csv, last.pth.tar,
model_best.pth.tar). Every change from timm's script is marked `# multi-label:`; the multi-label logic lives in timm_ml.

    ./distributed_train.sh 2 data/fmnist_mosaic --model efficientnet_b2 -b 64 --opt adamp --amp
"""
import argparse
import copy
import importlib
import json
import logging
import math
import os
import time
from collections import OrderedDict
from contextlib import suppress
from datetime import datetime

import torch
import torch.nn as nn
import torchvision.utils
import yaml

from timm import utils
from timm.data import resolve_data_config
from timm.layers import convert_sync_batchnorm, set_fast_norm
from timm.models import safe_model_name
from timm.optim import create_optimizer_v2, optimizer_kwargs
from timm.scheduler import create_scheduler_v2, scheduler_kwargs
from timm.task import evaluation_sample_limit, load_task_ema_checkpoint, resume_task_checkpoint

# multi-label: everything multi-label comes from timm_ml
from timm_ml.data import (BadImageError, PartialLabelMixup, create_label_sets, create_ml_dataset, create_ml_loader,
                          create_train_sampler, eval_loader_kwargs, label_formats)
from timm_ml.eval_loop import run_evaluation
from timm_ml.loss import ML_LOSSES, PARTIAL_MODES, create_ml_losses
from timm_ml.metrics import headline_metric
from timm_ml.metrics.average_precision import NonFiniteScoresError
from timm_ml.models import (ML_HEADS, create_ml_model, default_head, head_classifier, label_graph_kwargs,
                            load_initial_checkpoint, ml_model_kwargs, resolve_loss_type, scoring_schema,
                            timm_model_of)
from timm_ml.optim import check_resumed_lr, ml_optimizer_kwargs, optimizer_settings, setup_gradient_centralization
from timm_ml.task import MultiLabelTask, build_ml_config, evaluated_split_name, loss_settings
from timm_ml.utils import Interrupted, StopRequest, fault_point, run_cli, save_recovery
from timm_ml.utils.amp import resolve_amp
from timm_ml.utils.checkpoint_io import check_training_checkpoint
from timm_ml.utils.distributed import gather_loss_meters, process_group_timeout, stop_requested
from timm_ml.utils.early_stop import EarlyStopping
from timm_ml.utils.run_folder import open_run_folder, write_epoch_summary
from timm_ml.utils.tracking import Trackers
from timm_ml.utils.train_args import check_recipe_fits, check_train_args, resolve_eval_metric

try:
    import wandb
    has_wandb = True
except ImportError:
    has_wandb = False

has_compile = hasattr(torch, 'compile')


_logger = logging.getLogger('train')


# The first arg parser parses out only the --config argument, this argument is used to
# load a yaml file containing key-values that override the defaults for the main parser below
config_parser = parser = argparse.ArgumentParser(description='Training Config', add_help=False)
parser.add_argument('-c', '--config', default='', type=str, metavar='FILE',
                    help='YAML config file specifying default arguments')


parser = argparse.ArgumentParser(description='timm_ml multi-label training')

# Dataset parameters
group = parser.add_argument_group('Dataset parameters')
# Keep this argument outside the dataset group because it is positional.
parser.add_argument('data', nargs='?', metavar='DIR', const=None,
                    help='path to dataset: the root as distributed (COCO, VOC, OpenImages, Datumaro, styles.csv, ...) '
                         'or a folder of <split>.{json,csv,tsv} label files')
group.add_argument('--data-dir', metavar='DIR',
                    help='path to dataset (root dir)')
group.add_argument('--dataset', metavar='NAME', default='',
                    help='streamed dataset: wds/<shards> or hfds/<name or folder> / hfids/<name> (default: label files '
                         'in the data folder)')
group.add_argument('--train-split', metavar='NAME', default='train',
                   help='dataset train split (default: train)')
group.add_argument('--val-split', metavar='NAME', default='validation',
                   help='dataset validation split (default: validation)')
group.add_argument('--train-num-samples', default=None, type=int,
                    metavar='N', help='Manually specify num samples in train split, for IterableDatasets.')
group.add_argument('--val-num-samples', default=None, type=int,
                    metavar='N', help='Manually specify num samples in validation split, for IterableDatasets.')
group.add_argument('--dataset-download', action='store_true', default=False,
                   help='Allow download of dataset for torch/ and tfds/ datasets that support it.')
group.add_argument('--class-map', default='', type=str, metavar='FILENAME',
                   help='path to class list file (one class per line) fixing the class order (default: "")')
group.add_argument('--input-img-mode', default=None, type=str,
                   help='Dataset image conversion mode for input images.')
group.add_argument('--input-key', default=None, type=str,
                   help='Dataset key for input images.')
group.add_argument('--target-key', default=None, type=str,
                   help='Dataset key for target labels.')
group.add_argument('--dataset-trust-remote-code', action='store_true', default=False,
                   help='Allow huggingface dataset import to execute code downloaded from the dataset\'s repo.')

# Multi-label data parameters
group = parser.add_argument_group('Multi-label data parameters')
group.add_argument('--label-format', default=None, choices=label_formats(),
                   help='label layout (default: auto, recognised from the files and logged)')
group.add_argument('--label-delimiter', default=None, type=str,
                   help='separator inside a label-list cell (default: read off the cells; ambiguity is an error)')
group.add_argument('--unknown-values', default=None, nargs='+', metavar='VALUE',
                   help='more cell spellings meaning "not annotated", besides #N/A, empty and NaN')
group.add_argument('--image-dir', default=None, type=str, metavar='DIR',
                   help='folder the image paths are relative to (default: beside the label file, or an images/ folder '
                        'there)')
group.add_argument('--path-column', default=None, type=str, help='CSV column with image paths')
group.add_argument('--labels-column', default=None, type=str, help='CSV column with label lists')
group.add_argument('--attribute-columns', default=None, nargs='+', metavar='COLUMN',
                   help='attribute CSV / styles.csv: the columns to read as attributes (default: all / '
                        'gender articleType baseColour)')
group.add_argument('--tree-columns', default=None, nargs='+', metavar='COLUMN',
                   help='attribute CSV / styles.csv: columns forming a label tree, top level first (e.g. masterCategory '
                        'subCategory articleType); with --labels-column a label-list column adds free tags')
group.add_argument('--split-seed', type=int, default=None,
                   help='seed of the split of a layout without split files (attributes.csv, styles.csv) (default: 0)')
group.add_argument('--split-fractions', type=float, nargs=3, default=None, metavar=('TRAIN', 'VAL', 'TEST'),
                   help='shares of that split (default: 0.7 0.15 0.15)')
group.add_argument('--bad-images', default='error', choices=('error', 'skip'),
                   help='unreadable images / malformed label rows: error (default) or counted, logged skip')
group.add_argument('--verify-images', default=None, choices=('none', 'header', 'full'),
                   help='check every image of train and val before training: header (fast: missing, empty, non-image '
                        'files) or full decode (truncated files too) (default: full with --bad-images skip, else none)')
group.add_argument('--sampler', default='uniform', choices=('uniform', 'balanced'),
                   help='training sampler: uniform (timm default) or balanced (oversample rare classes / values)')
group.add_argument('--sampler-power', type=float, default=1.0,
                   help='balanced sampler: image weight = (max class count / rarest class count) ** power')
group.add_argument('--sampler-cap', type=float, default=10.0, help='balanced sampler: largest image weight')
group.add_argument('--simulate-partial', default=None, type=str, metavar='SPEC',
                   help='hide training annotations: rps:P (each with prob. P) or fpc:N (N pos + N neg per class)')
group.add_argument('--resampled', action='store_true', default=False,
                   help='streamed data: draw shards with replacement, --train-num-samples per epoch (as timm)')

# Model parameters
group = parser.add_argument_group('Model parameters')
group.add_argument('--model', default='resnet50', type=str, metavar='MODEL',
                   help='Name of model to train (default: "resnet50")')
group.add_argument('--pretrained', action='store_true', default=False,
                   help='Start with pretrained version of specified network (if avail)')
group.add_argument('--pretrained-path', default=None, type=str,
                   help='Load this local weights file as the backbone (classifier dropped, head re-initialised)')
group.add_argument('--initial-checkpoint', default='', type=str, metavar='PATH',
                   help='Load this checkpoint into model after initialization (default: none)')
group.add_argument('--resume', default='', type=str, metavar='PATH',
                   help='Resume full model and optimizer state from checkpoint (default: none)')
group.add_argument('--no-resume-opt', action='store_true', default=False,
                   help='prevent resume of optimizer state when resuming model')
group.add_argument('--num-classes', type=int, default=None, metavar='N',
                   help='number of label classes (default: from the labels; checked against them when given)')
group.add_argument('--gp', default=None, type=str, metavar='POOL',
                   help='Global pool type, one of (fast, avg, max, avgmax, avgmaxc). Model default if None.')
group.add_argument('--img-size', type=int, default=None, metavar='N',
                   help='Image size (default: None => model default)')
group.add_argument('--in-chans', type=int, default=None, metavar='N',
                   help='Image input channels (default: None => 3)')
group.add_argument('--input-size', default=None, nargs=3, type=int, metavar='N',
                   help='Input all image dimensions (d h w, e.g. --input-size 3 224 224), uses model default if empty')
group.add_argument('--crop-pct', default=None, type=float,
                   metavar='N', help='Input image center crop percent (for validation only)')
group.add_argument('--mean', type=float, nargs='+', default=None, metavar='MEAN',
                   help='Override mean pixel value of dataset')
group.add_argument('--std', type=float, nargs='+', default=None, metavar='STD',
                   help='Override std deviation of dataset')
group.add_argument('--interpolation', default='', type=str, metavar='NAME',
                   help='Image resize interpolation type (overrides model)')
group.add_argument('-b', '--batch-size', type=int, default=128, metavar='N',
                   help='Input batch size for training (default: 128)')
group.add_argument('-vb', '--validation-batch-size', type=int, default=None, metavar='N',
                   help='Validation batch size override (default: None)')
group.add_argument('--channels-last', action='store_true', default=False,
                   help='Use channels_last memory layout')
group.add_argument('--fuser', default='', type=str,
                   help="Select jit fuser. One of ('', 'te', 'old', 'nvfuser')")
group.add_argument('--grad-accum-steps', type=int, default=1, metavar='N',
                   help='The number of steps to accumulate gradients (default: 1)')
group.add_argument('--grad-checkpointing', action='store_true', default=False,
                   help='Enable gradient checkpointing through model blocks/stages')
group.add_argument('--fast-norm', default=False, action='store_true',
                   help='enable experimental fast-norm')
group.add_argument('--model-kwargs', nargs='*', default={}, action=utils.ParseKwargs)
group.add_argument('--head-init-scale', default=None, type=float,
                   help='Head initialization scale')
group.add_argument('--head-init-bias', default=None, type=float,
                   help='Head initialization bias value')
group.add_argument('--torchcompile-mode', type=str, default=None,
                    help="torch.compile mode (default: None).")

# scripting / codegen
scripting_group = group.add_mutually_exclusive_group()
scripting_group.add_argument('--torchscript', dest='torchscript', action='store_true',
                             help='torch.jit.script the full model')
scripting_group.add_argument('--torchcompile', nargs='?', type=str, default=None, const='inductor',
                             help="Enable compilation w/ specified backend (default: inductor).")

# Multi-label head parameters
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
                   help='gcn: paper (graph outputs are the classifiers, default) | otx (graph outputs gate channels)')
group.add_argument('--gcn-hidden-dim', type=int, default=1024, help='gcn: first graph layer width (default: 1024)')
group.add_argument('--gcn-tau', type=float, default=0.4, help='gcn: graph binarisation threshold (default: 0.4)')
group.add_argument('--gcn-rho', type=float, default=0.25, help='gcn: neighbour re-weighting (default: 0.25)')
group.add_argument('--ssgrl-steps', type=int, default=3, help='ssgrl: gated graph propagation steps (default: 3)')
group.add_argument('--ssgrl-attention-dim', type=int, default=1024,
                   help='ssgrl: semantic decoupling width (default: 1024)')
group.add_argument('--ssgrl-graph-dim', type=int, default=None,
                   help='ssgrl: graph node width (default: the backbone width, as in the paper)')
group.add_argument('--cosine-scale', type=float, default=None,
                   help='cosine head scale s (default: --aam-s)')

# Device & distributed
group = parser.add_argument_group('Device parameters')
group.add_argument('--device', default=None, type=str,  # multi-label: None = cuda when available, else cpu
                    help="Device (accelerator) to use (default: cuda if available, else cpu).")
group.add_argument('--amp', action='store_true', default=False,
                   help='use AMP for mixed precision training')
group.add_argument('--amp-dtype', default='float16', type=str,
                   help='lower precision AMP dtype (default: float16; CPU autocast always uses bfloat16)')
group.add_argument('--model-dtype', default=None, type=str,
                   help='Model dtype override (non-AMP) (default: float32)')
group.add_argument('--no-ddp-bb', action='store_true', default=False,
                   help='Force broadcast buffers for native DDP to off.')
group.add_argument('--synchronize-step', action='store_true', default=False,
                   help='torch.cuda.synchronize() end of each step')
group.add_argument("--local_rank", default=0, type=int)
group.add_argument('--device-modules', default=None, type=str, nargs='+',
                    help="Python imports for device backend modules.")
group.add_argument('--amp-impl', default='native', type=str,
                   help='AMP impl to use, "native" only (default: native)')
group.add_argument('--no-cudnn-benchmark', action='store_true', default=False,
                   help='do not set torch.backends.cudnn.benchmark (its autotuning costs seconds at start)')
group.add_argument('--dist-timeout', default=None, type=float, metavar='MINUTES',
                   help="process-group timeout: a rank waiting longer fails (default: torch's 30 minutes)")

# Optimizer parameters
group = parser.add_argument_group('Optimizer parameters')
group.add_argument('--opt', default='sgd', type=str, metavar='OPTIMIZER',
                   help='Optimizer (default: "sgd")')
group.add_argument('--opt-eps', default=None, type=float, metavar='EPSILON',
                   help='Optimizer Epsilon (default: None, use opt default)')
group.add_argument('--opt-betas', default=None, type=float, nargs='+', metavar='BETA',
                   help='Optimizer Betas (default: None, use opt default)')
group.add_argument('--momentum', type=float, default=0.9, metavar='M',
                   help='Optimizer momentum (default: 0.9)')
group.add_argument('--weight-decay', type=float, default=2e-5,
                   help='weight decay (default: 2e-5)')
group.add_argument('--clip-grad', type=float, default=None, metavar='NORM',
                   help='Clip gradient norm (default: None, no clipping)')
group.add_argument('--clip-mode', type=str, default='norm',
                   help='Gradient clipping mode. One of ("norm", "value", "agc")')
group.add_argument('--layer-decay', type=float, default=None,
                   help='layer-wise learning rate decay (default: None)')
group.add_argument('--layer-decay-min-scale', type=float, default=0,
                   help='layer-wise lr decay minimum scale clamp (default: 0)')
group.add_argument('--layer-decay-no-opt-scale', type=float, default=None,
                   help='layer-wise lr decay no optimization scale (default: None)')
group.add_argument('--opt-kwargs', nargs='*', default={}, action=utils.ParseKwargs)
group.add_argument('--head-lr-scale', type=float, default=None,
                   help='learning rate of the multi-label head relative to --lr (default: the head recipe, 1)')
group.add_argument('--gc', action='store_true', default=False,
                   help='gradient centralization before each optimizer step (weights with ndim > 1)')
group.add_argument('--gc-conv-only', action='store_true', default=False,
                   help='gradient centralization on conv kernels only (ndim > 3); implies --gc')

# Learning rate schedule parameters
group = parser.add_argument_group('Learning rate schedule parameters')
group.add_argument('--sched', type=str, default='cosine', metavar='SCHEDULER',
                   help='LR scheduler (default: "cosine"')
group.add_argument('--sched-on-updates', action='store_true', default=False,
                   help='Apply LR scheduler step on update instead of epoch end.')
group.add_argument('--lr', type=float, default=None, metavar='LR',
                   help='learning rate, overrides lr-base if set (default: None)')
group.add_argument('--lr-base', type=float, default=0.1, metavar='LR',
                   help='base learning rate: lr = lr_base * global_batch_size / base_size')
group.add_argument('--lr-base-size', type=int, default=256, metavar='DIV',
                   help='base learning rate batch size (divisor, default: 256).')
group.add_argument('--lr-base-scale', type=str, default='', metavar='SCALE',
                   help='base learning rate vs batch_size scaling ("linear", "sqrt", based on opt if empty)')
group.add_argument('--lr-noise', type=float, nargs='+', default=None, metavar='pct, pct',
                   help='learning rate noise on/off epoch percentages')
group.add_argument('--lr-noise-pct', type=float, default=0.67, metavar='PERCENT',
                   help='learning rate noise limit percent (default: 0.67)')
group.add_argument('--lr-noise-std', type=float, default=1.0, metavar='STDDEV',
                   help='learning rate noise std-dev (default: 1.0)')
group.add_argument('--lr-cycle-mul', type=float, default=1.0, metavar='MULT',
                   help='learning rate cycle len multiplier (default: 1.0)')
group.add_argument('--lr-cycle-decay', type=float, default=0.5, metavar='MULT',
                   help='amount to decay each learning rate cycle (default: 0.5)')
group.add_argument('--lr-cycle-limit', type=int, default=1, metavar='N',
                   help='learning rate cycle limit, cycles enabled if > 1')
group.add_argument('--lr-k-decay', type=float, default=1.0,
                   help='learning rate k-decay for cosine/poly (default: 1.0)')
group.add_argument('--warmup-lr', type=float, default=1e-5, metavar='LR',
                   help='warmup learning rate (default: 1e-5)')
group.add_argument('--min-lr', type=float, default=0, metavar='LR',
                   help='lower lr bound for cyclic schedulers that hit 0 (default: 0)')
group.add_argument('--epochs', type=int, default=300, metavar='N',
                   help='number of epochs to train (default: 300)')
group.add_argument('--epoch-repeats', type=float, default=0., metavar='N',
                   help='epoch repeat multiplier (number of times to repeat dataset epoch per train epoch).')
group.add_argument('--start-epoch', default=None, type=int, metavar='N',
                   help='manual epoch number (useful on restarts)')
group.add_argument('--decay-milestones', default=[90, 180, 270], type=int, nargs='+', metavar="MILESTONES",
                   help='list of decay epoch indices for multistep lr. must be increasing')
group.add_argument('--decay-epochs', type=float, default=90, metavar='N',
                   help='epoch interval to decay LR')
group.add_argument('--warmup-epochs', type=int, default=5, metavar='N',
                   help='epochs to warmup LR, if scheduler supports')
group.add_argument('--warmup-prefix', action='store_true', default=False,
                   help='Exclude warmup period from decay schedule.'),
group.add_argument('--cooldown-epochs', type=int, default=0, metavar='N',
                   help='epochs to cooldown LR at min_lr, after cyclic schedule ends')
group.add_argument('--patience-epochs', type=int, default=10, metavar='N',
                   help='patience epochs for Plateau LR scheduler (default: 10)')
group.add_argument('--decay-rate', '--dr', type=float, default=0.1, metavar='RATE',
                   help='LR decay rate (default: 0.1)')
group.add_argument('--early-stop-patience', type=int, default=0, metavar='N',
                   help='stop when --eval-metric has not improved for N epochs (default: 0, off)')
group.add_argument('--early-stop-min-delta', type=float, default=0., metavar='D',
                   help='smallest change of --eval-metric that counts as an improvement (default: 0)')

# Augmentation & regularization parameters
group = parser.add_argument_group('Augmentation and regularization parameters')
group.add_argument('--no-aug', action='store_true', default=False,
                   help='Disable all training augmentation, override other train aug args')
group.add_argument('--train-crop-mode', type=str, default=None,
                   help='Crop-mode in train'),
group.add_argument('--scale', type=float, nargs='+', default=[0.08, 1.0], metavar='PCT',
                   help='Random resize scale (default: 0.08 1.0)')
group.add_argument('--ratio', type=float, nargs='+', default=[3. / 4., 4. / 3.], metavar='RATIO',
                   help='Random resize aspect ratio (default: 0.75 1.33)')
group.add_argument('--hflip', type=float, default=0.5,
                   help='Horizontal flip training aug probability')
group.add_argument('--vflip', type=float, default=0.,
                   help='Vertical flip training aug probability')
group.add_argument('--color-jitter', type=float, default=0.4, metavar='PCT',
                   help='Color jitter factor (default: 0.4)')
group.add_argument('--color-jitter-prob', type=float, default=None, metavar='PCT',
                   help='Probability of applying any color jitter.')
group.add_argument('--grayscale-prob', type=float, default=None, metavar='PCT',
                   help='Probability of applying random grayscale conversion.')
group.add_argument('--gaussian-blur-prob', type=float, default=None, metavar='PCT',
                   help='Probability of applying gaussian blur.')
group.add_argument('--aa', type=str, default=None, metavar='NAME',
                   help='Use AutoAugment policy. "v0" or "original". (default: None)'),
group.add_argument('--aug-repeats', type=float, default=0,
                   help='Number of augmentation repetitions (distributed training only) (default: 0)')
group.add_argument('--aug-splits', type=int, default=0,
                   help='Number of augmentation splits (default: 0, valid: 0 or >=2)')
group.add_argument('--jsd-loss', action='store_true', default=False,
                   help='Enable Jensen-Shannon Divergence + CE loss. Use with `--aug-splits`.')
group.add_argument('--bce-loss', action='store_true', default=False,
                   help='Enable BCE loss (the multi-label default; same as --loss bce).')
group.add_argument('--bce-sum', action='store_true', default=False,
                   help='Sum over classes when using BCE loss.')
group.add_argument('--bce-target-thresh', type=float, default=None,
                   help='Threshold for binarizing softened BCE targets (default: None, disabled).')
group.add_argument('--bce-pos-weight', type=float, default=None,
                   help='Positive weighting for BCE loss.')
group.add_argument('--reprob', type=float, default=0., metavar='PCT',
                   help='Random erase prob (default: 0.)')
group.add_argument('--remode', type=str, default='pixel',
                   help='Random erase mode (default: "pixel")')
group.add_argument('--recount', type=int, default=1,
                   help='Random erase count (default: 1)')
group.add_argument('--resplit', action='store_true', default=False,
                   help='Do not random erase first (clean) augmentation split')
group.add_argument('--mixup', type=float, default=0.0,
                   help='mixup alpha, mixup enabled if > 0. (default: 0.)')
group.add_argument('--cutmix', type=float, default=0.0,
                   help='cutmix alpha, cutmix enabled if > 0. (default: 0.)')
group.add_argument('--cutmix-minmax', type=float, nargs='+', default=None,
                   help='cutmix min/max ratio, overrides alpha and enables cutmix if set (default: None)')
group.add_argument('--mixup-prob', type=float, default=1.0,
                   help='Probability of performing mixup or cutmix when either/both is enabled')
group.add_argument('--mixup-switch-prob', type=float, default=0.5,
                   help='Probability of switching to cutmix when both mixup and cutmix enabled')
group.add_argument('--mixup-mode', type=str, default='batch',
                   help='How to apply mixup/cutmix params. Per "batch", "pair", or "elem"')
group.add_argument('--mixup-off-epoch', default=0, type=int, metavar='N',
                   help='Turn off mixup after this epoch, disabled if 0 (default: 0)')
# multi-label: no smoothing by default (timm's 0.1 is its single-label ImageNet recipe; smoothing towards 0.5
# moves every known negative of a multi-label set, and none of the methods here uses it)
group.add_argument('--smoothing', type=float, default=0.0,
                   help='Label smoothing (default: 0.0)')
group.add_argument('--train-interpolation', type=str, default='random',
                   help='Training interpolation (random, bilinear, bicubic default: "random")')
group.add_argument('--drop', type=float, default=0.0, metavar='PCT',
                   help='Dropout rate (default: 0.)')
group.add_argument('--drop-connect', type=float, default=None, metavar='PCT',
                   help='Drop connect rate, DEPRECATED, use drop-path (default: None)')
group.add_argument('--drop-path', type=float, default=None, metavar='PCT',
                   help='Drop path rate (default: None)')
group.add_argument('--drop-block', type=float, default=None, metavar='PCT',
                   help='Drop block rate (default: None)')

# Multi-label loss parameters
group = parser.add_argument_group('Multi-label loss parameters')
group.add_argument('--loss', default=None, choices=ML_LOSSES,
                   help='bce | asl | aam | csl | ce (group heads) | poly | twoway | zlpr | db '
                        '(default: the head recipe: bce for linear, asl for mldecoder, aam for cosine, ce for the group '
                        'heads)')
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
                   help='CSL class prior CSV (index,class,prior); selective mode without it uses the positive rate '
                        'among the known training labels')
group.add_argument('--estimate-prior', action='store_true', default=False,
                   help='after training, write the class prior (mean sigmoid over the train set) to class_prior.csv')
group.add_argument('--aam-s', type=float, default=23., help='AAM scale s (default: 23, the published recipe)')
group.add_argument('--aam-m', type=float, default=0., help='AAM margin m (default: 0, the published recipe)')
group.add_argument('--aam-k', type=float, default=0.7, help='AAM positive weight k (default: 0.7)')
group.add_argument('--threshold', type=float, default=0.5, help='probability threshold for the F1 metrics')
group.add_argument('--topk', type=int, default=3, help='k of the top-k F1 metrics (default: 3)')

# Batch norm parameters (only works with gen_efficientnet based models currently)
group = parser.add_argument_group('Batch norm parameters', 'Only works with gen_efficientnet based models currently.')
group.add_argument('--bn-momentum', type=float, default=None,
                   help='BatchNorm momentum override (if not None)')
group.add_argument('--bn-eps', type=float, default=None,
                   help='BatchNorm epsilon override (if not None)')
group.add_argument('--sync-bn', action='store_true',
                   help='Enable synchronized BatchNorm.')
group.add_argument('--dist-bn', type=str, default='reduce',
                   help='Distribute BatchNorm stats between nodes after each epoch ("broadcast", "reduce", or "")')
group.add_argument('--split-bn', action='store_true',
                   help='Enable separate BN layers per augmentation split.')

# Model Exponential Moving Average
group = parser.add_argument_group('Model exponential moving average parameters')
group.add_argument('--model-ema', action='store_true', default=False,
                   help='Enable tracking moving average of model weights.')
group.add_argument('--model-ema-force-cpu', action='store_true', default=False,
                   help='Force ema to be tracked on CPU, rank=0 node only. Disables EMA validation.')
group.add_argument('--model-ema-decay', type=float, default=0.9998,
                   help='Decay factor for model weights moving average (default: 0.9998)')
group.add_argument('--model-ema-warmup', action='store_true',
                   help='Enable warmup for model EMA decay.')

# Misc
group = parser.add_argument_group('Miscellaneous parameters')
group.add_argument('--seed', type=int, default=42, metavar='S',
                   help='random seed (default: 42)')
group.add_argument('--worker-seeding', type=str, default='all',
                   help='worker seed mode (default: all)')
group.add_argument('--log-interval', type=int, default=50, metavar='N',
                   help='how many batches to wait before logging training status')
group.add_argument('--val-interval', type=int, default=1, metavar='N',
                   help='how many epochs between validation and checkpointing')
group.add_argument('--recovery-interval', type=int, default=0, metavar='N',
                   help='how many batches to wait before writing recovery checkpoint')
group.add_argument('--checkpoint-hist', type=int, default=10, metavar='N',
                   help='number of checkpoints to keep (default: 10)')
group.add_argument('-j', '--workers', type=int, default=4, metavar='N',
                   help='how many training processes to use (default: 4)')
group.add_argument('--save-images', action='store_true', default=False,
                   help='save images of input batches every log interval for debugging')
group.add_argument('--pin-mem', action='store_true', default=False,
                   help='Pin CPU memory in DataLoader for more efficient (sometimes) transfer to GPU.')
group.add_argument('--no-prefetcher', action='store_true', default=False,
                   help='disable fast prefetcher')
group.add_argument('--output', default='', type=str, metavar='PATH',
                   help='path to output folder (default: none, current dir)')
group.add_argument('--experiment', default='', type=str, metavar='NAME',
                   help='name of train experiment, name of sub-folder for output')
group.add_argument('--eval-metric', default=None, type=str, metavar='EVAL_METRIC',
                   help='Best metric (default: map with a multi-label block, attr_mean_acc for attribute / tree data); '
                        'any evaluation column, e.g. OF1, CF1, loss')
group.add_argument('--tta', type=int, default=0, metavar='N',
                   help='Test-time augmentation in evaluation: 2 averages each image with its horizontal flip '
                        '(default: 0, none)')
group.add_argument('--use-multi-epochs-loader', action='store_true', default=False,
                   help='use the multi-epochs-loader to save time at the beginning of every epoch')
group.add_argument('--log-wandb', action='store_true', default=False,
                   help='log training and validation metrics to wandb')
group.add_argument('--wandb-project', default=None, type=str,
                   help='wandb project name')
group.add_argument('--wandb-tags', default=[], type=str, nargs='+',
                   help='wandb tags')
group.add_argument('--wandb-resume-id', default='', type=str, metavar='ID',
                   help='If resuming a run, the id of the run in wandb')
group.add_argument('--log-tensorboard', action='store_true', default=False,
                   help='also write the summary.csv metrics (and per-class AP at the end) as TensorBoard events')
group.add_argument('--debug', action='store_true', default=False,
                   help='show the full traceback of errors (TIMM_ML_DEBUG=1 does the same)')

# Scheduled resolution loader arguments
group.add_argument('--train-img-sizes', type=int, nargs='+', default=None,
                   help='Per-batch square image sizes for scheduled resolution training')
group.add_argument('--train-batch-sizes', type=int, nargs='+', default=None,
                   help='Batch size for each --train-img-sizes choice (default: --batch-size for every choice)')
group.add_argument('--train-size-probs', type=float, nargs='+', default=None,
                   help='Base sampling weights for --train-img-sizes (default: uniform)')
group.add_argument('--train-size-schedule', type=str, default='constant', choices=('constant', 'progressive'),
                   help='Resolution choice schedule; progressive moves from the first size to the last')
group.add_argument('--train-size-schedule-spread', type=float, default=0.65,
                   help='Progressive schedule spread in resolution-choice index units (default: 0.65)')
group.add_argument('--train-size-random-mix', type=float, default=0.1,
                   help='Fraction of uniform random active choices mixed into a progressive schedule (default: 0.1)')
group.add_argument('--train-batches-per-epoch', '--train-steps-per-epoch', type=int, default=None,
                   help='Fixed loader batches (before gradient accumulation) per epoch; inferred if unspecified')
group.add_argument('--variable-batch-loss-scale', default='none', type=str, choices=('none', 'sqrt', 'linear'),
                   help='Scale gradients relative to the policy-average scheduled batch size')

# NaFlex scheduled loader arguments
group.add_argument('--naflex-loader', action='store_true', default=False,
                   help='Use NaFlex loader (Requires NaFlex compatible model)')
group.add_argument('--naflex-train-seq-lens', type=int, nargs='+', default=[128, 256, 576, 784, 1024],
                   help='Sequence lengths to use for NaFlex loader')
group.add_argument('--naflex-max-seq-len', type=int, default=576,
                   help='Fixed maximum sequence length for NaFlex loader (validation)')
group.add_argument('--naflex-patch-sizes', type=int, nargs='+', default=None,
                   help='List of patch sizes for variable patch size training (e.g., 8 12 16 24 32)')
group.add_argument('--naflex-patch-size-probs', type=float, nargs='+', default=None,
                   help='Probabilities for each patch size (must sum to 1.0, uniform if not specified)')
group.add_argument('--naflex-loss-scale', default='linear', type=str, choices=('none', 'sqrt', 'linear'),
                   help='Scale loss (gradient) by batch_size ("none", "sqrt", or "linear")')
group.add_argument('--naflex-patchify-channels-first', action='store_true', default=False,
                   help='Emit NaFlex patches in C-P-P (channels-first) flat layout instead of the default '
                        'P-P-C (channels-last). Use for models that consume HF/Gemma4-style C-P-P patches.')

# Knowledge Distillation parameters
parser.add_argument('--kd-model-name', default=None, type=str,
                    help='Name of teacher model for knowledge distillation')
parser.add_argument('--kd-distill-type', default='logit', type=str, choices=['logit', 'feature', 'token'],
                    help='Type of distillation: "logit" for output distillation, "feature" for intermediate features, "token" for models with distillation heads (default: logit)')
parser.add_argument('--kd-loss-type', default='kl', type=str,
                    help='Loss function for logit distillation (default: kl). Currently only "kl" supported, reserved for future extensions.')
parser.add_argument('--distill-loss-weight', default=None, type=float,
                    help='Weight for distillation loss. If both weights specified: loss = task_weight * task + distill_weight * distill. '
                         'If only task_weight: loss = task_weight * task + (1-task_weight) * distill. Default: 1.0 if only this specified.')
parser.add_argument('--task-loss-weight', default=None, type=float,
                    help='Weight for task (classification) loss. See --distill-loss-weight for weighting modes. Default: 1.0 if unspecified.')
parser.add_argument('--kd-temperature', default=4.0, type=float,
                    help='Temperature for softmax in distillation (default: 4.0, typical range: 1-4)')
parser.add_argument('--kd-student-feature-dim', default=None, type=int,
                    help='Student model feature dimension (auto-detected from model.head_hidden_size or model.num_features if not specified)')
parser.add_argument('--kd-teacher-feature-dim', default=None, type=int,
                    help='Teacher model feature dimension (auto-detected from model.head_hidden_size or model.num_features if not specified)')
parser.add_argument('--kd-token-distill-type', default='soft', type=str, choices=['soft', 'hard'],
                    help='Token distillation type: "soft" for KL-div with temperature, "hard" for CE with teacher argmax (default: soft)')


def _parse_args():
    # Do we have a config file to parse?
    args_config, remaining = config_parser.parse_known_args()
    if args_config.config:
        with open(args_config.config, 'r') as f:
            cfg = yaml.safe_load(f)
            parser.set_defaults(**cfg)

    # The main arg parser parses the rest of the args, the usual
    # defaults will have been overridden if config file specified.
    args = parser.parse_args(remaining)

    # Cache the args as a text string to save them in the output dir later
    args_text = yaml.safe_dump(args.__dict__, default_flow_style=False)
    return args, args_text


def _set_loader_epoch(loader, epoch: int) -> None:
    if hasattr(loader.dataset, 'set_epoch'):
        loader.dataset.set_epoch(epoch)
    if hasattr(loader.batch_sampler, 'set_epoch'):
        loader.batch_sampler.set_epoch(epoch)
    elif hasattr(loader.sampler, 'set_epoch'):
        loader.sampler.set_epoch(epoch)


def main():
    utils.setup_default_logging()
    args, args_text = _parse_args()
    check_train_args(args, parser)  # multi-label: timm options without a multi-label meaning stop here
    if args.resume:
        check_training_checkpoint(args.resume)  # multi-label: read safely, named if it is not one, before any work

    if args.device_modules:
        for module in args.device_modules:
            importlib.import_module(module)

    if torch.cuda.is_available():
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.benchmark = not args.no_cudnn_benchmark

    args.prefetcher = not args.no_prefetcher
    args.grad_accum_steps = max(1, args.grad_accum_steps)
    if args.device is None:  # multi-label: CPU-only machines train without --device cpu
        args.device = 'cuda' if torch.cuda.is_available() else 'cpu'
    with process_group_timeout(args.dist_timeout):  # multi-label: --dist-timeout
        device = utils.init_distributed_device(args)
    if args.distributed:
        _logger.info(
            'Training in distributed mode with multiple processes, 1 device per process.'
            f'Process {args.rank}, total {args.world_size}, device {args.device}.')
    else:
        _logger.info(f'Training with a single process on 1 device ({args.device}).')
    assert args.rank >= 0

    model_dtype = None
    if args.model_dtype:
        assert args.model_dtype in ('float32', 'float16', 'bfloat16')
        model_dtype = getattr(torch, args.model_dtype)
        if model_dtype == torch.float16:
            _logger.warning('float16 is not recommended for training, for half precision bfloat16 is recommended.')

    utils.random_seed(args.seed, args.rank)

    if args.fuser:
        utils.set_jit_fuser(args.fuser)
    if args.fast_norm:
        set_fast_norm()

    # multi-label: the labels come first, their classes and groups size the head
    train_labels, val_labels = create_label_sets(args, log=utils.is_primary(args))
    if args.num_classes is not None and args.num_classes != train_labels.num_classes:
        parser.error(f'--num-classes {args.num_classes} but {train_labels.source} has {train_labels.num_classes} '
                     'classes')
    args.num_classes = train_labels.num_classes
    if args.ml_head is None:
        args.ml_head = default_head(train_labels.schema)
        if utils.is_primary(args) and args.ml_head != 'linear':
            _logger.info(f'Labels with exclusive groups ({train_labels.schema.describe()}): training one softmax per '
                         f'group (--ml-head {args.ml_head}); --ml-head linear trains every value as a sigmoid.')
    loss_type = resolve_loss_type(args.loss, args.ml_head)

    model = create_ml_model(
        args.model,
        train_labels.schema,
        **ml_model_kwargs(args),
        **label_graph_kwargs(args, train_labels, log=utils.is_primary(args)),
    )
    if args.initial_checkpoint:
        loaded = load_initial_checkpoint(model, args.initial_checkpoint)
        if utils.is_primary(args):
            _logger.info(f'Loaded {loaded} tensors from {args.initial_checkpoint}; the rest keep their initialisation.')
    classifier = head_classifier(model)  # multi-label: the head's last layer (None for the cosine head)
    if args.head_init_scale is not None and classifier is not None:
        with torch.no_grad():
            classifier.weight.mul_(args.head_init_scale)
            classifier.bias.mul_(args.head_init_scale)
    if args.head_init_bias is not None and classifier is not None:
        nn.init.constant_(classifier.bias, args.head_init_bias)

    if args.grad_checkpointing:
        model.set_grad_checkpointing(enable=True)

    if utils.is_primary(args):
        _logger.info(
            f'Model {safe_model_name(args.model)} + {args.ml_head} head created, '
            f'param count:{sum([m.numel() for m in model.parameters()])}')

    data_config = resolve_data_config(vars(args), model=timm_model_of(model), verbose=utils.is_primary(args))

    # move model to GPU, enable channels last layout if set
    model.to(device=device, dtype=model_dtype)  # FIXME move model device & dtype into create_model
    if args.channels_last:
        model.to(memory_format=torch.channels_last)

    # setup synchronized BatchNorm for distributed training
    if args.distributed and args.sync_bn:
        args.dist_bn = ''  # disable dist_bn when sync BN active
        model = convert_sync_batchnorm(model)
        if utils.is_primary(args):
            _logger.info(
                'Converted model to use Synchronized BatchNorm. WARNING: You may have issues if using '
                'zero initialized BN layers (enabled by default for ResNets) while sync-bn enabled.')

    # setup automatic mixed-precision (AMP) loss scaling and op casting
    # multi-label: on a CPU-only machine --amp is bfloat16 CPU autocast, said in one log line
    amp_autocast, loss_scaler, amp_notice = resolve_amp(args.amp, args.amp_dtype, device)
    if utils.is_primary(args):
        _logger.info(amp_notice or f'AMP not enabled. Training in {model_dtype or torch.float32}.')

    # create the train and eval datasets
    if args.data and not args.data_dir:
        args.data_dir = args.data
    if args.input_img_mode is None:
        input_img_mode = 'RGB' if data_config['input_size'][0] == 3 else 'L'
    else:
        input_img_mode = args.input_img_mode
        if len(input_img_mode) != data_config['input_size'][0]:
            parser.error(f'--input-img-mode {input_img_mode} gives {len(input_img_mode)} channels, the model takes '
                         f'{data_config["input_size"][0]} (--in-chans / --input-size)')

    # multi-label: the datasets read the label sets (with --verify-images both splits are checked here)
    dataset_eval = None
    if val_labels is not None:
        dataset_eval = create_ml_dataset(args, val_labels, is_training=False, input_img_mode=input_img_mode)
    dataset_train = create_ml_dataset(args, train_labels, is_training=True, input_img_mode=input_img_mode)

    # create data loaders w/ augmentation pipeline
    train_interpolation = args.train_interpolation
    if args.no_aug or not train_interpolation:
        train_interpolation = data_config['interpolation']

    common_loader_kwargs = dict(
        mean=data_config['mean'],
        std=data_config['std'],
        pin_memory=args.pin_mem,
        img_dtype=model_dtype or torch.float32,
        device=device,
        distributed=args.distributed,
        use_prefetcher=args.prefetcher,
    )

    train_loader_kwargs = dict(
        batch_size=args.batch_size,
        is_training=True,
        no_aug=args.no_aug,
        re_prob=args.reprob,
        re_mode=args.remode,
        re_count=args.recount,
        re_split=args.resplit,
        train_crop_mode=args.train_crop_mode,
        scale=args.scale,
        ratio=args.ratio,
        hflip=args.hflip,
        vflip=args.vflip,
        color_jitter=args.color_jitter,
        color_jitter_prob=args.color_jitter_prob,
        grayscale_prob=args.grayscale_prob,
        gaussian_blur_prob=args.gaussian_blur_prob,
        auto_augment=args.aa,
        num_aug_repeats=args.aug_repeats,
        interpolation=train_interpolation,
        num_workers=args.workers,
        worker_seeding=args.worker_seeding,
    )

    # multi-label: mixup / cutmix run on the device after the prefetcher so unknown (-1) targets stay unknown
    mixup_fn = None
    mixup_active = args.mixup > 0 or args.cutmix > 0. or args.cutmix_minmax is not None
    if mixup_active:
        mixup_fn = PartialLabelMixup(
            mixup_alpha=args.mixup,
            cutmix_alpha=args.cutmix,
            cutmix_minmax=args.cutmix_minmax,
            prob=args.mixup_prob,
            switch_prob=args.mixup_switch_prob,
            mode=args.mixup_mode,
            label_smoothing=0. if loss_type == 'ce' else args.smoothing,  # ce smooths within each group
            num_classes=args.num_classes,
        )

    scheduled_batch_mode = args.train_img_sizes is not None
    batch_size_reference = float(args.batch_size)
    loader_train = create_ml_loader(
        dataset_train,
        sampler=create_train_sampler(args, dataset_train, log=utils.is_primary(args)),  # multi-label: --sampler
        input_size=data_config['input_size'],
        input_size_choices=args.train_img_sizes,
        batch_size_choices=args.train_batch_sizes,
        batch_choice_weights=args.train_size_probs,
        batch_choice_seed=args.seed,
        batch_choice_schedule=args.train_size_schedule,
        batch_schedule_epochs=args.epochs if args.train_size_schedule == 'progressive' else None,
        batch_schedule_spread=args.train_size_schedule_spread,
        batch_schedule_random_mix=args.train_size_random_mix,
        num_batches=args.train_batches_per_epoch,
        use_multi_epochs_loader=args.use_multi_epochs_loader,
        **common_loader_kwargs,
        **train_loader_kwargs,
    )
    if scheduled_batch_mode:
        scheduled_sampler = loader_train.batch_sampler
        batch_size_reference = scheduled_sampler.average_batch_size
        if utils.is_primary(args):
            _logger.info(
                f'Using scheduled training resolutions {args.train_img_sizes} with batch sizes '
                f'{scheduled_sampler.batch_sizes}.')
            if args.train_size_schedule == 'progressive':
                _logger.info(
                    f'Using progressive resolution schedule over {args.epochs} epochs with '
                    f'spread={args.train_size_schedule_spread} and random_mix={args.train_size_random_mix}.')
            _logger.info(
                f'Scheduled loader has {len(scheduled_sampler)} batches/epoch using '
                f'policy-average batch size {batch_size_reference:.2f}.')
    if len(loader_train) == 0:  # multi-label: no run that saves its random initialisation as model_best
        parser.error(
            f'the training set has {len(dataset_train)} images, fewer than one batch of {args.batch_size}'
            + (f' x {args.world_size} processes' if args.distributed else '')
            + (f' after skipping {len(dataset_train.skipped)} unreadable images' if dataset_train.skipped else '')
            + ': no optimizer step would run. Lower --batch-size or add images.')

    if args.lr is None:  # multi-label: an explicit --lr 0 stays 0 (timm recomputes it)
        global_batch_size = batch_size_reference * args.world_size * args.grad_accum_steps
        batch_ratio = global_batch_size / args.lr_base_size
        if not args.lr_base_scale:
            on = args.opt.lower()
            args.lr_base_scale = 'sqrt' if any([o in on for o in ('ada', 'lamb')]) else 'linear'
        if args.lr_base_scale == 'sqrt':
            batch_ratio = batch_ratio ** 0.5
        args.lr = args.lr_base * batch_ratio
        if utils.is_primary(args):
            _logger.info(
                f'Learning rate ({args.lr}) calculated from base learning rate ({args.lr_base}) '
                f'and effective global batch size ({global_batch_size:g}) with {args.lr_base_scale} scaling.')

    loader_eval = None
    if args.val_split and dataset_eval is not None:
        eval_workers = args.workers
        if args.distributed and ('tfds' in args.dataset or 'wds' in args.dataset):
            # FIXME reduces validation padding issues when using TFDS, WDS w/ workers and distributed training
            eval_workers = min(2, args.workers)

        loader_eval = create_ml_loader(dataset_eval, **eval_loader_kwargs(
            data_config, args.validation_batch_size or args.batch_size, eval_workers, args.distributed, device,
            args.pin_mem, args.prefetcher, model_dtype))

    # setup loss function
    # multi-label: masked losses (unknown targets contribute nothing), the head's recipe unless --loss
    scoring = scoring_schema(dict(model.ml_config))
    train_loss_fn, validate_loss_fn = create_ml_losses(
        args, train_labels, scoring, mixup_active=mixup_active, log=utils.is_primary(args))

    # Setup training task
    task = MultiLabelTask(
        model=model,
        criterion=train_loss_fn,
        ml_config=build_ml_config(args, model, data_config, train_labels, val_labels, loss_type),
        eval_criterion=validate_loss_fn,
        threshold=args.threshold,
        topk=args.topk,
        device=device,
        dtype=model_dtype,
        verbose=utils.is_primary(args),
    )
    task.run_layout = dict(batch_size=args.batch_size, grad_accum_steps=args.grad_accum_steps, seed=args.seed,
                           world_size=args.world_size, train_samples=len(dataset_train), sampler=args.sampler,
                           sampler_power=args.sampler_power, sampler_cap=args.sampler_cap)  # multi-label: exact resume

    model = task.get_trainable_module()
    eval_model = task.get_eval_model()

    optimizer = create_optimizer_v2(
        model,
        **optimizer_kwargs(cfg=args),
        **args.opt_kwargs,
        **ml_optimizer_kwargs(args, model),  # multi-label: the head's lr scale
    )
    setup_gradient_centralization(args, optimizer)  # multi-label: --gc / --gc-conv-only
    if utils.is_primary(args):
        defaults = copy.deepcopy(optimizer.defaults)
        defaults['weight_decay'] = args.weight_decay  # this isn't stored in optimizer.defaults
        defaults = ', '.join([f'{k}: {v}' for k, v in defaults.items()])
        logging.info(
            f'Created {type(optimizer).__name__} ({args.opt}) optimizer: {defaults}'
        )

    # optionally resume from a checkpoint (multi-label: the task refuses one trained on other classes)
    resume_epoch = None
    if args.resume:
        given_settings = optimizer_settings(optimizer)
        resume_epoch = resume_task_checkpoint(
            task,
            args.resume,
            optimizer=None if args.no_resume_opt else optimizer,
            loss_scaler=None if args.no_resume_opt else loss_scaler,
            log_info=utils.is_primary(args),
        )
        if not args.no_resume_opt:  # multi-label: a changed --lr is refused, not replaced by the checkpoint's
            check_resumed_lr(optimizer, given_settings)
        if task.resumed_updates:  # multi-label: a recovery checkpoint continues inside its own epoch
            resume_epoch -= 1
            if utils.is_primary(args):
                _logger.info(f'Resuming inside epoch {resume_epoch} after {task.resumed_updates} updates.')

    # setup exponential moving average of model weights, SWA could be used here too
    if args.model_ema:
        # Important to create EMA model after cuda(), DP wrapper, and AMP but before DDP wrapper
        task.setup_ema(
            decay=args.model_ema_decay,
            use_warmup=args.model_ema_warmup,
            device='cpu' if args.model_ema_force_cpu else None,
        )
        if args.resume:
            load_task_ema_checkpoint(task, args.resume)

    # Compile task components before DDP wrapping. This keeps DDP out of the
    # compiled graph while preserving a compiled model reference for validation.
    if args.torchcompile:
        assert has_compile, 'A version of torch w/ torch.compile() is required for --compile, possibly a nightly.'
        if utils.is_primary(args):
            _logger.info(
                f"Compiling task components with backend={args.torchcompile}, mode={args.torchcompile_mode}"
            )
        task.compile(backend=args.torchcompile, mode=args.torchcompile_mode)
        model = task.get_trainable_module()
        eval_model = task.get_eval_model()
        if task.has_ema():
            task.compile_ema(
                backend=args.torchcompile,
                mode=args.torchcompile_mode,
            )

    # Prepare task for distributed training
    if args.distributed:
        if utils.is_primary(args):
            _logger.info("Preparing task for distributed training")
        task.prepare_distributed(
            device_ids=[device] if device.type == 'cuda' else None, broadcast_buffers=not args.no_ddp_bb)
        model = task.get_trainable_module()

    # setup checkpoint saver and eval metric tracking
    # multi-label: the evaluator and its columns; --eval-metric checked (case-insensitive) before the first epoch
    evaluator = task.create_evaluator(max_samples=evaluation_sample_limit(loader_eval)) if loader_eval else None
    if loader_eval is not None:
        eval_metric = resolve_eval_metric(args.eval_metric or headline_metric(scoring), evaluator.metric_names)
    else:
        eval_metric = 'loss'
    decreasing_metric = eval_metric == 'loss'
    task.summary_meaning = dict(threshold=args.threshold, eval_metric=eval_metric,  # multi-label: checked on resume
                                val_split=evaluated_split_name(val_labels), loss=loss_type,
                                loss_settings=loss_settings(args))
    best_metric = None
    best_epoch = None
    saver = None
    output_dir = None
    trackers = None
    run_folder = None
    if utils.is_primary(args):
        if args.experiment:
            exp_name = args.experiment
        else:
            exp_name = '-'.join([
                datetime.now().strftime("%Y%m%d-%H%M%S"),
                safe_model_name(args.model),
                args.ml_head,
                str(data_config['input_size'][-1])
            ])
        # multi-label: one writer per run folder (a lock); --resume continues in place only in the resumed
        # checkpoint's own folder, with a summary of exactly one row per epoch before the resumed one
        run_folder = open_run_folder(
            args.output if args.output else './output/train', exp_name, resume=args.resume,
            summary_columns=_summary_columns(evaluator))
        output_dir = run_folder.path
        run_folder.check_summary_meaning(task.resumed_summary_meaning, task.summary_meaning)
        saver = run_folder.create_saver(
            model=model,
            optimizer=optimizer,
            args=args,
            amp_scaler=loss_scaler,
            decreasing=decreasing_metric,
            max_history=args.checkpoint_hist,
            task=task,
        )

        wandb_run = None
        if args.log_wandb:
            if has_wandb:
                assert not args.wandb_resume_id or args.resume
                wandb_run = wandb.init(
                    project=args.wandb_project,
                    name=exp_name,
                    config=args,
                    tags=args.wandb_tags,
                    resume="must" if args.wandb_resume_id else None,
                    id=args.wandb_resume_id if args.wandb_resume_id else None,
                )
            else:
                _logger.warning(
                    "You've requested to log metrics to wandb but package not found. "
                    "Metrics not being logged to wandb, try `pip install wandb`")
        trackers = Trackers(output_dir, tensorboard=args.log_tensorboard, wandb_run=wandb_run)

    # setup learning rate schedule and starting epoch
    updates_per_epoch = (len(loader_train) + args.grad_accum_steps - 1) // args.grad_accum_steps
    lr_scheduler, num_epochs = create_scheduler_v2(
        optimizer,
        **scheduler_kwargs(args, decreasing_metric=decreasing_metric),
        updates_per_epoch=updates_per_epoch,
    )
    start_epoch = 0
    if args.start_epoch is not None:
        # a specified start_epoch will always override the resume epoch
        start_epoch = args.start_epoch
    elif resume_epoch is not None:
        start_epoch = resume_epoch
    if lr_scheduler is not None and (start_epoch > 0 or task.resumed_updates):
        if args.sched_on_updates:  # multi-label: a recovery checkpoint's updates of its epoch count too
            lr_scheduler.step_update(start_epoch * updates_per_epoch + task.resumed_updates)
        else:
            lr_scheduler.step(start_epoch)
    if run_folder is not None:  # multi-label: one row per epoch; never discard finished epochs
        run_folder.check_resume_point(start_epoch, num_epochs, repaired=saver.repaired)
        run_folder.reconcile_summary(start_epoch, task.resumed_summary_row)
        with open(os.path.join(output_dir, 'args.yaml'), 'w') as f:
            f.write(args_text)
        run_folder.write_split_record(train_labels, val_labels)  # multi-label: a seeded split, written beside the run

    if utils.is_primary(args):
        if args.warmup_prefix:
            sched_explain = '(warmup_epochs + epochs + cooldown_epochs). Warmup added to total when warmup_prefix=True'
        else:
            sched_explain = '(epochs + cooldown_epochs). Warmup within epochs when warmup_prefix=False'
        _logger.info(
            f'Scheduled epochs: {num_epochs} {sched_explain}. '
            f'LR stepped per {"epoch" if lr_scheduler is None or lr_scheduler.t_in_epochs else "update"}.')
    check_recipe_fits(args, updates_per_epoch, num_epochs, log=utils.is_primary(args))  # multi-label: say so

    early_stopping = EarlyStopping(args.early_stop_patience, args.early_stop_min_delta, decreasing_metric) \
        if args.early_stop_patience > 0 else None
    if early_stopping is not None and args.resume:
        early_stopping.load_state_dict(task.resumed_early_stop)  # multi-label: counters kept in the checkpoint
    stop = StopRequest().install()  # multi-label: SIGTERM / SIGINT save a recovery checkpoint and exit non-zero

    results = []
    epoch = start_epoch
    try:
        for epoch in range(start_epoch, num_epochs):
            # multi-label: data order and augmentation depend on the epoch only, so a resumed run repeats them
            utils.random_seed(args.seed + epoch, args.rank)
            _set_loader_epoch(loader_train, epoch)

            train_metrics = train_one_epoch(
                epoch,
                model,
                loader_train,
                optimizer,
                args,
                task=task,
                device=device,
                lr_scheduler=lr_scheduler,
                saver=saver,
                output_dir=output_dir,
                amp_autocast=amp_autocast,
                loss_scaler=loss_scaler,
                model_dtype=model_dtype,
                mixup_fn=mixup_fn,
                scheduled_batch_mode=scheduled_batch_mode,
                batch_size_reference=batch_size_reference,
                skip_updates=task.resumed_updates if epoch == start_epoch else 0,
                stop=stop,
            )
            train_metrics['skipped_images'] = len(dataset_train.skipped) + len(train_labels.skipped)

            if args.distributed and args.dist_bn in ('broadcast', 'reduce'):
                if utils.is_primary(args):
                    _logger.info("Distributing BatchNorm running means and vars")
                utils.distribute_bn(model, args.world_size, args.dist_bn == 'reduce')

            epoch_p_1 = epoch + 1
            if epoch_p_1 % args.val_interval != 0 and epoch_p_1 != num_epochs:
                if utils.is_primary(args):
                    _logger.info("Skipping eval and checkpointing ")
                if lr_scheduler is not None:
                    # step LR for next epoch, take care when using metric dependent lr_scheduler
                    lr_scheduler.step(epoch_p_1, metric=None)
                # Skip validation and metric logic
                # FIXME we could make the logic below able to handle no eval metrics more gracefully,
                #  but for simplicity opting to just skip for now.
                continue

            if loader_eval is not None:
                try:
                    eval_metrics = validate(
                        eval_model,
                        loader_eval,
                        evaluator,
                        args,
                        device=device,
                        amp_autocast=amp_autocast,
                        model_dtype=model_dtype,
                    )

                    ema_model = task.get_trainable_module(ema=True)
                    if ema_model is not None and not args.model_ema_force_cpu:
                        if args.distributed and args.dist_bn in ('broadcast', 'reduce'):
                            utils.distribute_bn(ema_model, args.world_size, args.dist_bn == 'reduce')

                        ema_eval_metrics = validate(
                            task.get_eval_model(ema=True),
                            loader_eval,
                            evaluator,
                            args,
                            device=device,
                            amp_autocast=amp_autocast,
                            model_dtype=model_dtype,
                            log_suffix=' (EMA)',
                        )
                        eval_metrics = ema_eval_metrics
                except Exception as e:
                    # multi-label: never lose a trained epoch to its evaluation
                    saved = f'; the trained weights are saved in {saver.save_last(epoch)}' if saver is not None else ''
                    raise (type(e) if isinstance(e, (BadImageError, NonFiniteScoresError)) else RuntimeError)(
                        f'Evaluation after epoch {epoch} failed: {e}{saved}') from e
            else:
                eval_metrics = None

            if eval_metrics is not None:
                latest_metric = eval_metrics[eval_metric]
            else:
                latest_metric = train_metrics[eval_metric]

            if not math.isfinite(latest_metric):  # multi-label: a NaN would rank checkpoints arbitrarily
                saved = f'; the weights are saved in {saver.save_last(epoch)}' if saver is not None else ''
                raise ValueError(
                    f'{eval_metric} is {latest_metric} after epoch {epoch} (train loss {train_metrics.get("loss")}): '
                    f'training diverged or the metric is undefined on this data; lower --lr or pick another '
                    f'--eval-metric{saved}')

            stop_early = early_stopping is not None and early_stopping.step(latest_metric, epoch)
            if early_stopping is not None:
                task.early_stop_state = early_stopping.state_dict()
            lrs = [param_group['lr'] for param_group in optimizer.param_groups]
            if saver is not None:
                # multi-label: the checkpoint (holding this epoch's summary row) is written before summary.csv, so an
                # interruption between the two resumes to exactly one row per epoch
                task.summary_row = (epoch, dict(train_metrics), dict(eval_metrics or {}), sum(lrs) / len(lrs))
                # save proper checkpoint with eval metric
                best_metric, best_epoch = saver.save_checkpoint(epoch, metric=latest_metric)
                task.summary_row = None

            if output_dir is not None:
                write_epoch_summary(
                    epoch,
                    train_metrics,
                    eval_metrics,
                    filename=os.path.join(output_dir, 'summary.csv'),
                    lr=sum(lrs) / len(lrs),
                    log_wandb=args.log_wandb and has_wandb,
                )
                trackers.log_epoch(epoch, train_metrics, eval_metrics, sum(lrs) / len(lrs))
            fault_point('epoch_end')

            if lr_scheduler is not None:
                # step LR for next epoch
                lr_scheduler.step(epoch_p_1, latest_metric)

            latest_results = {
                'epoch': epoch,
                'train': train_metrics,
            }
            if eval_metrics is not None:
                latest_results['validation'] = eval_metrics
            results.append(latest_results)

            if stop_early:
                if utils.is_primary(args):
                    _logger.info(
                        f'Early stopping at epoch {epoch}: {eval_metric} has not improved by more than '
                        f'{args.early_stop_min_delta} for {args.early_stop_patience} epochs '
                        f'(best {early_stopping.best:.4f} at epoch {early_stopping.best_epoch}).')
                break

    except Interrupted:  # multi-label: a signal ends the run non-zero, its state saved (timm passes KeyboardInterrupt)
        if trackers is not None:
            trackers.close()
        raise
    if args.estimate_prior and utils.is_primary(args) and not stop.requested:  # multi-label: CSL's class prior
        from timm_ml.loss import estimate_and_write_class_prior
        estimate_and_write_class_prior(args, utils.unwrap_model(eval_model), train_labels, data_config,
                                       input_img_mode, output_dir, device, amp_autocast, model_dtype, stop=stop)
    if stop.requested:  # a signal after the last epoch's checkpoint: the run is saved, but was asked to stop
        raise Interrupted(stop.signum, os.path.join(output_dir, 'last.pth.tar') if output_dir else '')

    if trackers is not None:
        trackers.log_per_class(evaluator.result if evaluator is not None else None, epoch)
        trackers.close()

    if args.distributed:
        torch.distributed.destroy_process_group()

    if best_metric is not None:
        # log best metric as tracked by checkpoint saver
        _logger.info('*** Best metric: {0} (epoch {1})'.format(best_metric, best_epoch))

    if utils.is_primary(args):
        # for parsable results display, dump top-10 summaries to avoid excess console spam
        display_results = sorted(
            results,
            key=lambda x: x.get('validation', x.get('train')).get(eval_metric, 0),
            reverse=decreasing_metric,
        )
        print(f'--result\n{json.dumps(display_results[-10:], indent=4)}')


def _summary_columns(evaluator):
    """multi-label: the summary.csv header this run writes (a resumed run must match the file's)."""
    columns = ['epoch', 'train_loss', 'train_skipped_images']
    if evaluator is not None:
        columns += ['eval_' + name for name in evaluator.metric_names]
    return columns + ['lr']


def train_one_epoch(
        epoch,
        model,
        loader,
        optimizer,
        args,
        task=None,
        device=torch.device('cuda'),
        lr_scheduler=None,
        saver=None,
        output_dir=None,
        amp_autocast=suppress,
        loss_scaler=None,
        model_dtype=None,
        mixup_fn=None,
        scheduled_batch_mode=False,
        batch_size_reference=None,
        skip_updates=0,
        stop=None,
):
    if args.mixup_off_epoch and epoch >= args.mixup_off_epoch:
        if mixup_fn is not None:
            mixup_fn.mixup_enabled = False

    second_order = hasattr(optimizer, 'is_second_order') and optimizer.is_second_order
    has_no_sync = args.distributed and hasattr(task.get_trainable_module(), 'no_sync')
    update_time_m = utils.AverageMeter()
    data_time_m = utils.AverageMeter()
    losses_m = utils.AverageMeter()

    trainable_module = task.get_trainable_module()
    trainable_module.train()

    accum_steps = args.grad_accum_steps
    last_accum_steps = len(loader) % accum_steps
    updates_per_epoch = (len(loader) + accum_steps - 1) // accum_steps
    num_updates = epoch * updates_per_epoch
    last_batch_idx = len(loader) - 1
    last_batch_idx_to_accum = len(loader) - last_accum_steps

    # multi-label: a resumed recovery checkpoint continues after the updates it holds
    skip_batches, first_batch = skip_updates * accum_steps, 0
    if skip_batches and hasattr(loader.dataset, 'set_skip_batches'):
        loader.dataset.set_skip_batches(skip_batches, task.resumed_stream)  # streamed: readers start after them
        num_updates += skip_updates
        skip_batches, first_batch = 0, skip_updates * accum_steps

    if skip_updates and task.resumed_meters:  # multi-label: the resumed epoch's train loss counts its first updates
        losses_m.sum, losses_m.count = task.resumed_meters[args.rank]
        losses_m.avg = losses_m.sum / max(losses_m.count, 1)

    data_start_time = update_start_time = time.time()
    optimizer.zero_grad()
    update_sample_count = 0
    for batch_idx, (input, target) in enumerate(loader, start=first_batch):
        if batch_idx < skip_batches:  # multi-label: batches done before the recovery checkpoint (same order)
            num_updates += (batch_idx + 1) % accum_steps == 0
            data_start_time = update_start_time = time.time()
            continue
        last_batch = batch_idx == last_batch_idx
        need_update = last_batch or (batch_idx + 1) % accum_steps == 0
        update_idx = batch_idx // accum_steps
        if batch_idx >= last_batch_idx_to_accum:
            accum_steps = last_accum_steps

        if not args.prefetcher:
            input, target = input.to(device=device, dtype=model_dtype), target.to(device=device)
        # multi-label: the main process's randomness (mixup, dropout, drop path) seeded by (epoch, batch), so a run
        # resumed inside the epoch continues it identically, whatever the loader drew before
        utils.random_seed(args.seed + 1000003 * (epoch + 1) + batch_idx, args.rank)
        if mixup_fn is not None:  # multi-label: on the device, with or without the prefetcher
            input, target = mixup_fn(input, target)
        if args.channels_last:
            input = input.contiguous(memory_format=torch.channels_last)

        # multiply by accum steps to get equivalent for full update
        data_time_m.update(accum_steps * (time.time() - data_start_time))

        def _forward():
            with amp_autocast():
                # Task handles the complete forward pass and loss computation
                result = task(input, target)
                _loss = result['loss']

            if accum_steps > 1:
                _loss /= accum_steps
            return _loss, result

        def _backward(_loss):
            clip_parameters = None
            if args.clip_grad is not None:
                clip_parameters = task.get_clip_parameters(exclude_head='agc' in args.clip_mode)
            if loss_scaler is not None:
                loss_scaler(
                    _loss,
                    optimizer,
                    clip_grad=args.clip_grad,
                    clip_mode=args.clip_mode,
                    parameters=clip_parameters,
                    create_graph=second_order,
                    need_update=need_update,
                )
            else:
                _loss.backward(create_graph=second_order)
                if need_update:
                    if args.clip_grad is not None:
                        utils.dispatch_clip_grad(
                            clip_parameters,
                            value=args.clip_grad,
                            mode=args.clip_mode,
                        )
                    optimizer.step()

        batch_size = input.shape[0]

        if scheduled_batch_mode:
            loss_scale_mode = args.variable_batch_loss_scale
            if not loss_scale_mode or loss_scale_mode == 'none':
                local_scale = 1.0
            else:
                local_scale = batch_size / batch_size_reference
                if loss_scale_mode == 'sqrt':
                    local_scale = local_scale ** 0.5
                elif loss_scale_mode != 'linear':
                    raise ValueError(f'Invalid variable batch loss scale mode: {loss_scale_mode}')

            global_batch_size = batch_size
            if args.distributed:
                global_batch_size *= args.world_size

            if has_no_sync and not need_update:
                with task.no_sync():
                    loss, result = _forward()
                    scaled_loss = local_scale * loss
                    _backward(scaled_loss)
            else:
                loss, result = _forward()
                scaled_loss = local_scale * loss
                _backward(scaled_loss)
        else:
            global_batch_size = batch_size
            if args.distributed:
                global_batch_size *= args.world_size

            if has_no_sync and not need_update:
                with task.no_sync():
                    loss, result = _forward()
                    _backward(loss)
            else:
                loss, result = _forward()
                _backward(loss)

        loss_value = loss.item()
        if not math.isfinite(loss_value):  # multi-label: a NaN / inf loss stops, naming where
            _stop_non_finite(loss_value, epoch, batch_idx, output_dir)
        losses_m.update(loss_value * accum_steps, batch_size)
        update_sample_count += global_batch_size

        if not need_update:
            data_start_time = time.time()
            continue

        num_updates += 1
        optimizer.zero_grad()
        task.update_ema(step=num_updates)

        if args.synchronize_step:
            if device.type == 'cuda':
                torch.cuda.synchronize()
            elif device.type == 'npu':
                torch.npu.synchronize()
        time_now = time.time()

        update_time_m.update(time.time() - update_start_time)
        update_start_time = time_now

        if update_idx % args.log_interval == 0 or last_batch:
            lrl = [param_group['lr'] for param_group in optimizer.param_groups]
            lr = sum(lrl) / len(lrl)

            loss_avg, loss_now = losses_m.avg, losses_m.val
            if args.distributed:
                # synchronize current step and avg loss, each process keeps its own running avg
                loss_avg = utils.reduce_tensor(loss.new([loss_avg]), args.world_size).item()
                loss_now = utils.reduce_tensor(loss.new([loss_now]), args.world_size).item()

            if utils.is_primary(args):
                _logger.info(
                    f'Train: {epoch} [{update_idx:>4d}/{updates_per_epoch} '
                    f'({100. * (update_idx + 1) / updates_per_epoch:>3.0f}%)]  '
                    f'Loss: {loss_now:#.3g} ({loss_avg:#.3g})  '
                    f'Time: {update_time_m.val:.3f}s, {update_sample_count / update_time_m.val:>7.2f}/s  '
                    f'({update_time_m.avg:.3f}s, {update_sample_count / update_time_m.avg:>7.2f}/s)  '
                    f'LR: {lr:.3e}  '
                    f'Data: {data_time_m.val:.3f} ({data_time_m.avg:.3f})'
                )

                if args.save_images and output_dir:
                    torchvision.utils.save_image(
                        input,
                        os.path.join(output_dir, 'train-batch-%d.jpg' % batch_idx),
                        padding=0,
                        normalize=True
                    )

        # multi-label: recovery checkpoints record the updates done (and streamed positions) for an exact resume;
        # a SIGTERM / SIGINT writes one at this step boundary, then the run exits non-zero
        stopping = stop is not None and stop_requested(stop, args, device)
        if (saver is not None or args.distributed) and (stopping or (args.recovery_interval and (
                (update_idx + 1) % args.recovery_interval == 0))):
            stream = getattr(loader.dataset, 'stream_position', None)
            position = stream(batch_idx + 1) if stream is not None else None
            meters = gather_loss_meters(losses_m, args)
            saved = save_recovery(saver, task, epoch, update_idx, position, meters) if saver is not None else ''
            if stopping:
                raise Interrupted(stop.signum, saved)

        if lr_scheduler is not None:
            lr_scheduler.step_update(num_updates=num_updates, metric=losses_m.avg)

        update_sample_count = 0
        data_start_time = time.time()
        # end for

    if hasattr(optimizer, 'sync_lookahead'):
        optimizer.sync_lookahead()

    loss_avg = losses_m.avg
    if args.distributed:
        # synchronize avg loss, each process keeps its own running avg
        loss_avg = torch.tensor([loss_avg], device=device, dtype=torch.float32)
        loss_avg = utils.reduce_tensor(loss_avg, args.world_size).item()
    return OrderedDict([('loss', loss_avg)])


def _stop_non_finite(value, epoch, batch_idx, output_dir):
    """multi-label: a non-finite loss is an error naming the step and the last good checkpoint."""
    last = os.path.join(output_dir, 'last.pth.tar') if output_dir else None
    resume = f'the last good checkpoint is {last}' if last and os.path.isfile(last) else \
        'no checkpoint was written yet'
    raise FloatingPointError(
        f'Loss is {value} at epoch {epoch}, step {batch_idx}: stopping. Lower --lr, add --clip-grad, or check the '
        f'inputs of that step; {resume}.')


def validate(
        model,
        loader,
        evaluator,
        args,
        device=torch.device('cuda'),
        amp_autocast=suppress,
        model_dtype=None,
        log_suffix=''
):
    # multi-label: the evaluator gathers outputs once and computes masked mAP, CP..OF1, group and tree metrics
    return run_evaluation(
        model, loader, evaluator, device, amp_autocast, channels_last=args.channels_last, distributed=args.distributed,
        log_interval=args.log_interval, log_suffix=log_suffix, is_primary=utils.is_primary(args),
        prefetcher=args.prefetcher, model_dtype=model_dtype, tta=args.tta)


if __name__ == '__main__':
    run_cli(main)  # multi-label: user errors end in one `error:` line (exit 2), signals in 128 + signum
