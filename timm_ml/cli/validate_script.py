""" The multi-label hooks of validate.py: timm's validate.py calls these where it would call timm's factories. The model,
its classes and schema, head, data config, data root, validation split and label-parsing options come from the
checkpoint; timm's flags override the data config where given. docs/architecture.md lists every hook."""
import argparse
import csv
import glob
import json
import logging
import os
from collections import OrderedDict

import numpy as np
import torch
from timm import utils
from timm.task import evaluation_sample_limit
from timm.utils.checkpoint_saver import load_checkpoint_metadata

from timm_ml.builder import CheckpointRun, build_ml_run
from timm_ml.config import CheckpointConfig, EvalConfig, LabelsConfig, label_options
from timm_ml.data.label_args import add_label_args
from timm_ml.metrics import compute_multilabel_metrics, estimate_thresholds, save_thresholds
from timm_ml.models import read_checkpoint_config
from timm_ml.report import write_error_report, write_per_class_report
from timm_ml.scoring import scores_from_logits
from timm_ml.utils.checkpoint_io import ML_CONFIG_KEY, save_checkpoint_atomic
from timm_ml.utils.outputs import check_outputs_are_not_inputs, check_replaceable
from timm_ml.utils.writer import check_writable, write_file

from .train_args import restate_defaults

_logger = logging.getLogger('validate')

# timm's defaults that differ: the checkpoint decides the model and the split; the CPU without CUDA
DEFAULTS = dict(model=None, split=None, device=None, results_format=None)
DEFAULT_HELP = dict(
    model='model architecture (default: the checkpoint\'s; given, it must match it)',
    split='split to validate (default: the split the checkpoint\'s training evaluated)',
    device='device (accelerator) to use (default: cuda when available, else cpu)',
    results_format='csv or json (default: from the --results-file extension)',
    pretrained='not used: the weights are the checkpoint\'s')


NOT_SUPPORTED = {
    'dataset_download': '--dataset-download', 'pretrained': '--pretrained (weights come from --checkpoint)',
    'test_pool': '--test-pool (test-time pooling of single-label ImageNet models)',
    'tf_preprocessing': '--tf-preprocessing (TensorFlow ImageNet preprocessing)',
    'torchscript': '--torchscript (the multi-label heads are not TorchScript-compatible; use --torchcompile)',
    'aot_autograd': '--aot-autograd (functorch memory-efficient fusion; use --torchcompile)',
    'real_labels': '--real-labels (ImageNet ReaL labels)',
    'valid_labels': '--valid-labels (evaluate a class subset by training on it)',
    'naflex_loader': '--naflex-loader (no unknown-label handling in the NaFlex loader)',
}


def add_ml_args(parser):
    """The multi-label flags of validate.py and the defaults that differ from timm's."""
    group = add_label_args(parser.add_argument_group('Multi-label parameters'), default='the one training used')
    group.add_argument('--bad-images', default='error', choices=('error', 'skip'),
                       help='unreadable images / malformed label rows: error (default) or counted skip')
    group.add_argument('--log-interval', dest='log_freq', type=int, default=argparse.SUPPRESS,
                       help='train.py\'s name of --log-freq')
    group.add_argument('--no-ema', action='store_true', default=False,
                       help='use the raw weights even when the checkpoint has EMA weights (EMA weights are preferred; '
                            '--use-ema makes their absence an error)')
    group.add_argument('--threshold', type=float, default=None,
                       help='global probability threshold; overrides saved per-class thresholds (default: 0.5)')
    group.add_argument('--thresholds', default=None, type=str,
                       help='per-class thresholds, .npy or .csv (default: the ones saved in the checkpoint, if any)')
    group.add_argument('--estimate-thresholds', action='store_true', default=False,
                       help='estimate per-class F1-optimal thresholds of the multi-label block on this split (use a '
                            'held-out split) and save thresholds.npy / .csv and a checkpoint copy holding them')
    group.add_argument('--topk', type=int, default=3, help='k of the top-k metrics (default: 3)')
    group.add_argument('--report', default=None, metavar='DIR',
                       help='write the error-analysis page DIR/index.html (PR curves with the operating point, a '
                            'sortable class table, false positive / negative thumbnails, most-confused pairs); '
                            'static, offline')
    group.add_argument('--store-dtype', default='float32', choices=('float32', 'float16'),
                       help='dtype logits are kept in until the metrics are computed (float16 halves memory and, from '
                            '32k images, scores them exactly about 2x faster; ties where float32 values round '
                            'together)')
    group.add_argument('--store-device', default='auto', choices=('auto', 'cpu', 'device'),
                       help='where logits are kept and metrics computed: auto = on the GPU when evaluating on one')
    group.add_argument('--eval-storage', default='auto', choices=('auto', 'dense', 'sparse'),
                       help='outputs kept for the metrics: auto = only the known entries when most targets are unknown '
                            '(the same exact metrics in memory proportional to the known entries), dense = every '
                            'output')
    group.add_argument('--debug', action='store_true', default=False,
                       help='show the full traceback of errors (TIMM_ML_DEBUG=1 does the same)')
    parser.set_defaults(**DEFAULTS)
    restate_defaults(parser, DEFAULT_HELP)
    return parser


def check_args(args, parser):
    """Before any work: options without a multi-label meaning stop here, naming them; outputs that would replace an
    input or a file that is not ours are refused; the device defaults to the CPU without CUDA (--amp: bfloat16)."""
    given = [flag for name, flag in NOT_SUPPORTED.items() if getattr(args, name)]
    if args.num_gpu != 1:
        given.append('--num-gpu (use torchrun --nproc_per_node N validate.py ... for several devices)')
    if args.metrics_avg not in (None, 'micro', 'macro'):
        given.append(f'--metrics-avg {args.metrics_avg} (micro: OP / OR / OF1, macro: CP / CR / CF1)')
    if given:
        parser.error('not available for multi-label validation: ' + ', '.join(given))
    if not args.checkpoint:
        parser.error('--checkpoint is required: a timm_ml checkpoint, or a folder of them')
    if args.threshold is not None and not 0 < args.threshold < 1:
        parser.error(f'--threshold {args.threshold}: a probability threshold must be between 0 and 1')
    if args.topk < 1 or args.batch_size < 1:
        parser.error(f'--topk {args.topk} / -b {args.batch_size}: both must be >= 1')
    if args.report and (os.path.isdir(args.checkpoint) or os.environ.get('WORLD_SIZE', '1') != '1'):
        parser.error('--report is written for one checkpoint by one process (no checkpoint folder, no torchrun)')
    if args.estimate_thresholds and os.path.isdir(args.checkpoint):
        parser.error('--estimate-thresholds tunes one checkpoint on one split; --checkpoint names a folder (bulk '
                     'validation): name the checkpoint file')
    if args.use_ema and args.no_ema:
        parser.error('--use-ema (the EMA weights, an error without them) contradicts --no-ema (the raw weights)')
    if args.results_format not in (None, 'csv', 'json'):
        parser.error(f'--results-format {args.results_format!r}: csv or json')
    if args.estimate_thresholds:  # every output checked before the work: none is written if one cannot be
        outputs = threshold_outputs(args.checkpoint)
        check_outputs_are_not_inputs(outputs, [args.checkpoint, args.thresholds], '--estimate-thresholds output')
        check_replaceable(outputs[:2], '--estimate-thresholds output', ('thresholds',))
        check_replaceable(outputs[2:], '--estimate-thresholds output', ('checkpoint',))
    args.model_given = args.model  # checked against each checkpoint's model
    if args.model is None:  # timm's main reads a missing --model as a request to validate every pretrained model
        first = checkpoint_files(args.checkpoint)[:1] if os.path.isdir(args.checkpoint) else [args.checkpoint]
        if not first:
            parser.error(f'--checkpoint {args.checkpoint}: no *.pth.tar checkpoints in that folder')
        try:
            args.model = checkpoint_model_name(first[0])
        except (OSError, RuntimeError, ValueError, EOFError) as e:  # not a checkpoint: one line, as train.py's
            parser.error(f'--checkpoint {first[0]}: cannot read it as a timm_ml checkpoint ({str(e).splitlines()[0]})')
    if args.device is None:
        args.device = 'cuda' if torch.cuda.is_available() else 'cpu'
    if args.amp and not args.device.startswith('cuda') and args.amp_dtype == 'float16':
        args.amp_dtype = 'bfloat16'
    if args.results_file:  # the results never overwrite an input or a file that is not ours
        checkpoints = checkpoint_files(args.checkpoint) if os.path.isdir(args.checkpoint) else []
        outputs = results_outputs(args.results_file, checkpoints)
        check_outputs_are_not_inputs(outputs, [args.checkpoint, args.split, args.thresholds] + checkpoints +
                                     run_records(args.checkpoint), '--results-file')
        check_replaceable(outputs, '--results-file', ('results', 'per-class'))
    utils.init_distributed_device(args)  # runs under torchrun, metrics gathered once


def checkpoint_model_name(path: str) -> str:
    """The timm model a timm_ml checkpoint holds (its ml_config, read without its tensors)."""
    _, config = read_checkpoint_config(path, load_checkpoint_metadata(path) if os.path.isfile(path) else None)
    return config['model']


def threshold_outputs(checkpoint: str):
    """What --estimate-thresholds writes beside the checkpoint: thresholds.npy, thresholds.csv and the checkpoint copy
    holding them (<name>_thresholds.pth.tar)."""
    out_dir = os.path.dirname(os.path.abspath(checkpoint))
    name = os.path.basename(checkpoint)
    for ext in ('.pth.tar', '.pth', '.pt', '.bin'):
        if name.endswith(ext):
            name = name[:-len(ext)]
            break
    return [os.path.join(out_dir, 'thresholds.npy'), os.path.join(out_dir, 'thresholds.csv'),
            os.path.join(out_dir, name + '_thresholds.pth.tar')]


def checkpoint_files(folder: str):
    """The checkpoints of a folder (bulk validation), temp files of interrupted saves skipped."""
    found = glob.glob(folder + '/*.pth.tar') + glob.glob(folder + '/*.pth')
    return sorted(c for c in found if os.path.basename(c) not in ('tmp.pth.tar', 'recovery_tmp.pth.tar'))


def results_outputs(results_file, checkpoints=()):
    """Every file --results-file writes: itself and the per-class CSV / PNG beside it (one pair per checkpoint of a
    bulk validation, named as write_results names them)."""
    base = os.path.splitext(results_file)[0]
    prefixes = [base] if len(checkpoints) <= 1 else \
        [base + '_' + os.path.basename(c).replace('.pth.tar', '') for c in checkpoints]
    return [results_file] + [p + suffix for p in prefixes for suffix in ('_per_class.csv', '_per_class.png')]


def run_records(checkpoint):
    """The files of the checkpoint's run folder that a results file must not replace."""
    folder = checkpoint if os.path.isdir(checkpoint) else os.path.dirname(os.path.abspath(checkpoint))
    names = ('summary.csv', 'args.yaml', 'split.csv', 'thresholds.npy', 'thresholds.csv', 'class_prior.csv')
    return [os.path.join(folder, n) for n in names] + glob.glob(os.path.join(folder, '*.pth.tar'))


def checkpoint_config(args) -> CheckpointConfig:
    """The typed config of validate.py's command line for one checkpoint."""
    in_chans = args.input_size[0] if args.input_size is not None else args.in_chans
    return CheckpointConfig(
        checkpoint=args.checkpoint,
        labels=LabelsConfig(root=args.data or args.data_dir, dataset=args.dataset or '', val_split=args.split,
                            class_map=args.class_map, bad_images=args.bad_images, input_key=args.input_key,
                            target_key=args.target_key, trust_remote_code=args.dataset_trust_remote_code,
                            **label_options(args)),
        eval=EvalConfig(threshold=args.threshold, topk=args.topk),
        thresholds=args.thresholds, use_ema=not args.no_ema, require_ema=args.use_ema, model=args.model_given,
        num_classes=args.num_classes, in_chans=in_chans,
        timm_kwargs=dict(args.model_kwargs, **({'global_pool': args.gp} if args.gp else {})))


def prepare(args) -> 'ValidateScript':
    """For one checkpoint: its config read and checked against the flags given; args.model is its model."""
    run = build_ml_run(checkpoint_config(args), log=utils.is_primary(args))
    args.model = run.config['model']
    if not (args.data or args.data_dir) and run.root and utils.is_primary(args):
        _logger.info(f'Data root {run.root} and split {run.split!r} from the checkpoint.')
    return ValidateScript(args, run)


class ValidateScript:
    """ The hooks of validate.py for one checkpoint.

    Args:
        args: validate.py's namespace. run: build_ml_run's CheckpointRun.
    """

    def __init__(self, args, run: CheckpointRun):
        self.args = args
        self.run = run
        self.dataset = None
        self.evaluator = None

    def create_model(self, model_name=None, **kwargs):
        return self.run.create_model(model_name, **kwargs)

    def load_checkpoint(self, model, path, use_ema=True):
        return self.run.load_checkpoint(model, path, use_ema)

    def create_loss(self):
        return self.run.create_loss()

    def create_dataset(self, root=None, name=None, split=None, num_samples=None, input_img_mode='RGB', **kwargs):
        self.dataset = self.run.create_dataset(root=root, name=name, split=split, num_samples=num_samples,
                                               input_img_mode=input_img_mode, batch_size=self.args.batch_size)
        return self.dataset

    def create_loader(self, dataset, **kwargs):
        return self.run.create_loader(dataset, distributed=self.args.distributed, **kwargs)

    def create_evaluator(self, device, criterion, loader):
        """The evaluator: every score kept when thresholds are estimated or the page is written."""
        args = self.args
        self.evaluator = self.run.create_evaluator(
            device, criterion=criterion, max_samples=evaluation_sample_limit(loader),
            store_dtype=getattr(torch, args.store_dtype), store_device=args.store_device,
            storage='dense' if args.estimate_thresholds or args.report else args.eval_storage)
        return self.evaluator

    def results(self, param_count, data_config, crop_pct):
        """The metrics gathered once across ranks, thresholds estimated and the page written when asked; timm's
        results dict with the multi-label columns."""
        args, run, evaluator = self.args, self.run, self.evaluator
        metrics = evaluator.compute(distributed=args.distributed)
        result = evaluator.result
        labels = run.labels
        if result is not None and result.excluded and utils.is_primary(args):
            _logger.warning(f'{len(result.excluded)} classes without a known positive left out of mAP and CP / CR / '
                            f'CF1 (OP / OR / OF1 count every entry): {result.excluded[:10]}')
        if args.estimate_thresholds and utils.is_primary(args):
            data = run.data
            if run.root and data.get('root') and os.path.abspath(run.root) == data['root'] and \
                    labels.split == data.get('train_split'):  # thresholds fit to the training images are too low
                _logger.warning(f'--estimate-thresholds on {labels.split!r}, the split this checkpoint was trained on: '
                                'thresholds tuned on training scores are over-confident on new images. Estimate them '
                                'on held-out labels (--split val).')
            metrics, result = self._estimate_thresholds(metrics)
        if args.report and utils.is_primary(args):  # the page of the very numbers validate.py reports
            self._write_report(result, metrics, f'{os.path.basename(args.checkpoint)} on {labels.split} '
                                                f'({labels.source})')
        dataset = self.dataset
        return OrderedDict(
            model=args.model,
            **metrics,
            checkpoint=args.checkpoint,
            split=labels.split,
            images=getattr(dataset, 'num_valid_samples', len(dataset)),
            skipped=len(labels.skipped) + len(getattr(dataset, 'skipped', [])),
            param_count=round(param_count / 1e6, 2),
            img_size=data_config['input_size'][-1],
            crop_pct=crop_pct,
            interpolation=data_config['interpolation'],
            excluded_classes=result.excluded,
            groups=result.attributes,
            levels=result.levels,
            per_class=result.per_class,
        )

    def _estimate_thresholds(self, metrics):
        """F1-optimal per-class thresholds of the multi-label block (exclusive groups decide by argmax), on the model's
        own scores; written beside the checkpoint as thresholds.npy / .csv and a checkpoint copy."""
        args, run, evaluator = self.args, self.run, self.evaluator
        scoring = run.scoring
        if not len(scoring.multilabel):
            _logger.warning('--estimate-thresholds: this model has no multi-label block (its exclusive groups decide '
                            'by argmax); no thresholds to estimate.')
            return metrics, evaluator.result
        logits, target = evaluator.gathered(args.distributed)
        logits, target = logits.float().cpu(), target.cpu()
        estimated = estimate_thresholds(scores_from_logits(logits, scoring), target,
                                        columns=scoring.multilabel).float()
        npy, _, ck_copy = threshold_outputs(args.checkpoint)
        csv_path = save_thresholds(npy, run.classes, estimated.numpy())
        checkpoint = dict(run.checkpoint)
        task_state = dict(checkpoint.get('task_state') or {})
        task_state[ML_CONFIG_KEY] = dict(run.config, thresholds=estimated.tolist())
        checkpoint['task_state'] = task_state
        checkpoint.pop(ML_CONFIG_KEY, None)
        check_writable(ck_copy, '--estimate-thresholds output', kinds=('checkpoint',))
        save_checkpoint_atomic(checkpoint, ck_copy)
        tuned = compute_multilabel_metrics(logits, target, run.schema, scoring, 0.5, estimated, args.topk)
        metrics = OrderedDict(metrics, **{k: v for k, v in tuned.summary.items() if k.startswith('thr_')})
        _logger.info(f'Per-class thresholds written to {npy}, {csv_path} and {ck_copy}')
        return metrics, tuned

    def _write_report(self, result, metrics, title):
        """The error-analysis page (timm_ml.report) from the evaluator's scores and the per-class table; decisions at
        the thresholds that table used."""
        dataset, evaluator, scoring = self.dataset, self.evaluator, self.run.scoring
        if not hasattr(dataset, '_load'):
            raise ValueError('--report shows the images behind the errors: it needs a split of image files (not '
                             'shards)')
        logits, target = evaluator.gathered()
        thresholds = np.array([r['threshold'] if r['threshold'] == r['threshold'] else 0.5 for r in result.per_class])
        page = write_error_report(self.args.report, scores_from_logits(logits.float().cpu(), scoring).numpy(),
                                  target.cpu().numpy(), dataset.label_set.paths, dataset._load, scoring, thresholds,
                                  result.per_class, metrics, title)
        _logger.info(f'Error-analysis page written to {page}')


def summary_line(m, metrics_avg=None):
    """The headline, like timm's `* Acc@1 ...`: mAP and F1 for a multi-label block, accuracy / balanced accuracy /
    macro-F1 for groups."""
    line = '*'
    has_multilabel_block = any(k.startswith('top') and k.endswith('_CP') for k in m)
    if has_multilabel_block or 'attr_mean_acc' not in m:
        line += f" mAP {m['map']:.3f}"
        if metrics_avg != 'micro':
            line += f"  CP {m['CP']:.3f}  CR {m['CR']:.3f}  CF1 {m['CF1']:.3f}"
        if metrics_avg != 'macro':
            line += f"  OP {m['OP']:.3f}  OR {m['OR']:.3f}  OF1 {m['OF1']:.3f}"
        if 'thr_CF1' in m:
            line += f"  |  per-class thresholds: CF1 {m['thr_CF1']:.3f}  OF1 {m['thr_OF1']:.3f}"
    if 'attr_mean_acc' in m:
        line += (f"{'  |' if len(line) > 1 else ''} acc {m['attr_mean_acc']:.3f}  bacc {m['attr_mean_bacc']:.3f}  "
                 f"macro-F1 {m['attr_mean_macro_f1']:.3f}")
        if 'hier_consistency_raw' in m:
            line += f"  consistency {m['hier_consistency']:.1f} (raw argmax {m['hier_consistency_raw']:.1f})"
    return line


def print_results(args, results, bulk: bool = False):
    """The headline of each checkpoint on stdout, with its group and tree-level metrics."""
    if not utils.is_primary(args):
        return
    for r in (results if isinstance(results, list) else [results]):
        if 'error' in r:
            continue
        print(summary_line(r, args.metrics_avg) + (f'  ({r["checkpoint"]})' if bulk else ''))
        for name, m in (r.get('groups') or {}).items():
            print(f"  {name}: acc {m['acc']:.3f}  balanced acc {m['bacc']:.3f}  macro-F1 {m['macro_f1']:.3f}  "
                  f"(known {m['known']})")
        for name, m in (r.get('levels') or {}).items():
            print(f"  level {name}: acc {m['acc']:.3f}  balanced acc {m['bacc']:.3f}  macro-F1 {m['macro_f1']:.3f}  "
                  f"(known {m['known']})")


def brief(results):
    """The stdout / results-file result without the per-class table."""
    if isinstance(results, list):
        return [brief(r) for r in results]
    return {k: v for k, v in results.items() if k != 'per_class'}


def write_results(results_file, results, format=None):
    """timm's csv / json results (json keeps the group and level metrics; csv the scalar columns), and per checkpoint
    the per-class CSV + PNG beside it."""
    format = format or ('json' if results_file.endswith('.json') else 'csv')
    rows = results if isinstance(results, (list, tuple)) else [results]

    def write(tmp):
        with open(tmp, mode='w', newline='') as cf:
            if format == 'json':
                json.dump(brief(results), cf, indent=4)
            elif rows:
                scalar = [{k: v for k, v in r.items() if not isinstance(v, (list, dict))} for r in rows]
                columns = list(dict.fromkeys(k for r in scalar for k in r))  # rows of a folder differ (thr_* columns)
                dw = csv.DictWriter(cf, fieldnames=columns, restval='')
                dw.writeheader()
                for r in scalar:
                    dw.writerow(r)
    write_file(results_file, write, '--results-file', kinds=('results',))
    base = os.path.splitext(results_file)[0]
    for r in rows:
        if 'per_class' not in r:  # a checkpoint that failed to validate (--retry): its error is in the results
            continue
        prefix = base if len(rows) == 1 else base + '_' + os.path.basename(r['checkpoint']).replace('.pth.tar', '')
        write_per_class_report(r['per_class'], prefix, f'{r["checkpoint"]} on {r["split"]}')
