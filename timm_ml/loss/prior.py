""" Class prior for CSL's selective mode: mean predicted probability per class over the training set."""
import csv
import logging
import os
from typing import Sequence

import numpy as np
import torch

from timm_ml.utils.escape import read_spreadsheet_cell, spreadsheet_cell
from timm_ml.utils.writer import write_file

_logger = logging.getLogger('train')


class PriorFileError(ValueError):
    pass


@torch.no_grad()
def estimate_class_prior(model, loader, device='cpu', amp_autocast=None, prefetcher=False, stop=None):
    """Mean sigmoid output per class over every batch of `loader` (e.g. the training set, a model trained
    in 'ignore' mode); None when `stop` (a StopRequest) is requested part-way (no partial prior is written)."""
    model.eval()
    total, count = None, 0
    for input, _ in loader:
        if stop is not None and stop.requested:
            return None
        if not prefetcher:
            input = input.to(device)
        if amp_autocast is not None:
            with amp_autocast():
                logits = model(input)
        else:
            logits = model(input)
        prob = logits.float().sigmoid().sum(0).double().cpu()
        total = prob if total is None else total + prob
        count += input.shape[0]
    return (total / max(count, 1)).numpy()


def label_frequency_prior(targets) -> np.ndarray:
    """ Per class, positives / known entries of the training labels (0 for a class with no known entry).

    Under annotations hidden at random (e.g. RPS) this is an unbiased estimate of the class prior with no second
    training run; the paper's model-based estimate (--estimate-prior in ignore mode) is for annotations missing not at
    random, where the known entries are a biased sample.

    Args:
        targets: SparseTargets of the training labels (as trained on).
    """
    positive, negative, _ = targets.class_counts()
    known = positive + negative
    return np.divide(positive, known, out=np.zeros(len(known)), where=known > 0)


def write_class_prior(path: str, classes: Sequence[str], prior: Sequence[float]):
    if len(classes) != len(prior):
        raise ValueError(f'{len(prior)} prior values for {len(classes)} classes')
    def write(tmp):
        with open(tmp, 'w', newline='') as f:
            w = csv.writer(f)
            w.writerow(['index', 'class', 'prior'])
            for i, (c, p) in enumerate(zip(classes, prior)):
                w.writerow([i, spreadsheet_cell(c), f'{float(p):.8g}'])
    write_file(path, write, 'class prior', kinds=('prior',))


def read_class_prior(path: str, classes: Sequence[str]) -> torch.Tensor:
    """Read a prior CSV keyed by class index, checking each name against `classes` (no silent collapse)."""
    values = [None] * len(classes)
    with open(path, newline='', encoding='utf-8-sig') as f:  # -sig: a spreadsheet's byte-order mark
        reader = csv.DictReader(f)
        if reader.fieldnames is None or not {'index', 'class', 'prior'} <= set(reader.fieldnames):
            raise PriorFileError(f'{path}: expected columns index,class,prior, got {reader.fieldnames}')
        for row_num, row in enumerate(reader, start=2):
            try:
                idx, value = int(row['index']), float(row['prior'])
            except (TypeError, ValueError):
                raise PriorFileError(f'{path}: row {row_num}: bad index or prior value {row}')
            if not 0 <= value <= 1:  # also NaN
                raise PriorFileError(f'{path}: row {row_num}: prior {row["prior"]!r} of class {row["class"]!r} is not '
                                     'a probability in [0, 1]')
            if not 0 <= idx < len(classes):
                raise PriorFileError(f'{path}: row {row_num}: class index {idx} out of range (0..{len(classes) - 1})')
            row['class'] = read_spreadsheet_cell(row['class'] or '')
            if row['class'] != classes[idx]:
                raise PriorFileError(
                    f'{path}: row {row_num}: class {idx} is named {row["class"]!r}, the model calls it {classes[idx]!r}')
            if values[idx] is not None:
                raise PriorFileError(f'{path}: row {row_num}: duplicate entry for class {idx} ({classes[idx]!r})')
            values[idx] = value
    missing = [classes[i] for i, v in enumerate(values) if v is None]
    if missing:
        raise PriorFileError(f'{path}: no prior for {len(missing)} classes, e.g. {missing[:5]}')
    return torch.tensor(values, dtype=torch.float32)


def estimate_and_write_class_prior(model, loader, classes, output_dir: str, device, amp_autocast=None,
                                   prefetcher: bool = True, stop=None) -> str:
    """ --estimate-prior: the trained model's mean sigmoid per class over the training images (`loader`: the
    evaluation transform), written to <output_dir>/class_prior.csv for a later CSL selective run (--prior-path).

    Returns the file written, '' when a stop request ended the pass."""
    prior = estimate_class_prior(model, loader, device, amp_autocast, prefetcher=prefetcher, stop=stop)
    if prior is None:
        return ''
    path = os.path.join(output_dir, 'class_prior.csv')
    write_class_prior(path, classes, prior)
    _logger.info(f'Wrote class prior to {path}')
    return path
