""" The evaluation loop shared by train.py and validate.py."""
import logging
import time
from contextlib import suppress

import numpy as np
import torch
from timm import utils
from tqdm import tqdm

from timm_ml.scoring import scores_from_logits

_logger = logging.getLogger(__name__)


def run_evaluation(model, loader, evaluator, device, amp_autocast=suppress, channels_last=False, distributed=False,
                   log_interval=50, log_suffix='', is_primary=True, prefetcher=True, model_dtype=None, tta=0):
    """ Forward every batch into `evaluator` and return its metrics (gathered once across ranks).

    No host synchronisation per batch: outputs stay where the evaluator keeps them until compute().

    Args:
        model: Model in any wrapper. loader: Evaluation loader. evaluator: MultiLabelEvaluator.
        device: Input device. amp_autocast: Autocast context factory.
        prefetcher: The loader is timm's PrefetchLoader (inputs arrive on the device, normalised).
        model_dtype: Input dtype without the prefetcher.
        tta: Test-time augmentation: 2 averages the logits of each image and its horizontal flip (0 / 1: none).
        log_interval: Batches between progress lines. is_primary: Log on this rank.
    """
    batch_time_m = utils.AverageMeter()
    evaluator.reset()
    model.eval()
    end = time.time()
    last_idx = len(loader) - 1
    with torch.inference_mode():
        for batch_idx, (input, target) in enumerate(loader):
            if not prefetcher:
                input, target = input.to(device=device, dtype=model_dtype), target.to(device)
            if channels_last:
                input = input.contiguous(memory_format=torch.channels_last)
            with amp_autocast():
                output = model(input)
                if tta > 1:
                    output = (output + model(input.flip(-1))) / 2
            evaluator.update(output.float(), target)
            batch_time_m.update(time.time() - end)
            end = time.time()
            if is_primary and (batch_idx == last_idx or batch_idx % log_interval == 0):
                _logger.info(f'Test{log_suffix}: [{batch_idx:>4d}/{last_idx}]  '
                             f'Time: {batch_time_m.val:.3f} ({batch_time_m.avg:.3f})')
    metrics = evaluator.compute(distributed=distributed)
    if is_primary:
        _logger.info(f'Eval{log_suffix}: ' + '  '.join(
            f'{k}: {v:.3f}' for k, v in metrics.items() if k in ('loss', 'map', 'CF1', 'OF1', 'attr_mean_acc')))
        if evaluator.result is not None and evaluator.result.excluded:
            _logger.info(f'{len(evaluator.result.excluded)} classes without a known positive left out of mAP and '
                         f'CP / CR / CF1 (OP / OR / OF1 count every entry): '
                         f'{evaluator.result.excluded[:10]}')
    return metrics


def run_prediction(model, loader, scoring, device, amp_autocast=suppress, channels_last=False, prefetcher=True,
                   model_dtype=None, progress=True):
    """ (N, C) float32 scores (the one scoring function) of an ImageListDataset loader, in image order, and the indices
    of the images it could not read (their rows are NaN).

    Args:
        model: Model. loader: timm loader over an ImageListDataset (targets are image indices, negative when
            unreadable). scoring: The model's scoring schema. device, amp_autocast, channels_last, prefetcher,
            model_dtype: as run_evaluation.
    """
    num = len(loader.dataset)
    scores = np.full((num, scoring.num_classes), np.nan, dtype=np.float32)
    bad = []
    model.eval()
    with torch.inference_mode():
        for input, index in tqdm(loader, desc='infer', unit='batch', disable=None if progress else True):
            if not prefetcher:
                input = input.to(device=device, dtype=model_dtype)
            if channels_last:
                input = input.contiguous(memory_format=torch.channels_last)
            with amp_autocast():
                logits = model(input)
            index = index.cpu().numpy()
            good = index >= 0
            scores[index[good]] = scores_from_logits(logits.float(), scoring).cpu().numpy()[good]
            bad += [int(-i - 1) for i in index[~good]]
    return scores, sorted(bad)
