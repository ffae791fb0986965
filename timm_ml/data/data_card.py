""" The data card: per split, per class, how many entries are positive, negative and unknown, and what the cell values
were declared to mean. Printed at the start of a run (and by validate.py for its split), written to the run folder
(data_card.json) and carried in the checkpoint, so a misread (CelebA's -1 read as unknown: no negative anywhere, mAP
100) is seen before it trains, and stopped when it cannot be right."""
import logging
from typing import Dict, List, Optional

import numpy as np

from .readers import LabelFileError

_logger = logging.getLogger(__name__)

# a split where more than this share of its classes has no known negative (or no positive) cannot be trained or
# scored as labelled: the cell values were read with the wrong meaning
MOST = 0.5


def split_card(labels, name: str) -> Dict:
    """The card of one split: images, per-class positive / negative / unknown counts, the declared meanings."""
    counts = np.asarray(labels.targets.class_counts() if hasattr(labels.targets, 'class_counts') else
                        labels.class_counts(), dtype=np.int64)
    return dict(split=name, split_name=labels.split, source=labels.source, format=labels.format,
                images=int(len(labels)), meanings=getattr(labels, 'meanings', '') or '',
                classes=list(labels.classes), positives=counts[0].tolist(), negatives=counts[1].tolist(),
                unknown=counts[2].tolist())


def data_card(splits) -> Dict:
    """{'splits': [split_card ...]} of (name, LabelSet or None) pairs."""
    return dict(splits=[split_card(labels, name) for name, labels in splits if labels is not None])


def format_card(card: Dict, rows: int = 8) -> str:
    """A short table per split: the totals, then the classes with the fewest positives / negatives (where a misread
    shows first)."""
    lines = []
    for s in card['splits']:
        pos, neg, unk = (np.asarray(s[k]) for k in ('positives', 'negatives', 'unknown'))
        lines.append(f'data card, {s["split"]} ({s["split_name"]}, {s["images"]} images, {s["format"]}): positives '
                     f'{pos.sum()}, negatives {neg.sum()}, unknown {unk.sum()}; '
                     f'{int((pos == 0).sum())} classes without a positive, {int((neg == 0).sum())} without a negative'
                     + (f'; values: {s["meanings"]}' if s['meanings'] else ''))
        order = np.lexsort((neg, pos))[:rows]
        width = max([len(c) for c in s['classes']] + [5])
        lines.append(f'  {"class":<{min(width, 40)}}  {"pos":>8} {"neg":>8} {"unknown":>8}')
        for i in order:
            lines.append(f'  {s["classes"][i][:40]:<{min(width, 40)}}  {pos[i]:>8} {neg[i]:>8} {unk[i]:>8}')
        if len(s['classes']) > rows:
            lines.append(f'  ... {len(s["classes"]) - rows} more classes (data_card.json)')
    return '\n'.join(lines)


def check_card(card: Dict, grouped: bool = False, value_flag: str = '--value-map') -> List[str]:
    """ Warnings for classes with no known negative or no positive in a split (with the likely cause); an error when
    most classes of a split have none: the values were read with the wrong meaning (e.g. -1 = "does not have" read as
    unknown). Returns the warnings.

    Args:
        card: data_card(). grouped: The labels have exclusive groups (a value's negatives are the other values).
        value_flag: The flag that declares what cell values mean.
    """
    warnings = []
    for s in card['splits']:
        pos, neg = np.asarray(s['positives']), np.asarray(s['negatives'])
        classes = s['classes']
        n = max(1, len(classes))
        no_neg = [c for c, p, q in zip(classes, pos, neg) if q == 0]
        no_pos = [c for c, p, q in zip(classes, pos, neg) if p == 0]
        said = f'values read as: {s["meanings"]}' if s['meanings'] else 'see the format\'s value meanings'
        if len(no_neg) > MOST * n and len(classes) > 1:
            raise LabelFileError(
                f'{s["source"]}: {len(no_neg)} of {len(classes)} classes have no known negative in the {s["split"]} '
                f'split ({said}): nothing would teach the model "absent", and every score would rank perfectly '
                f'(mAP 100). If a value means "does not have" (CelebA\'s -1, VOC\'s -1), declare it: {value_flag} '
                '1=pos,-1=neg (or 0=neg).')
        if len(no_pos) > MOST * n and len(classes) > 1 and s['split'] == 'train':
            raise LabelFileError(
                f'{s["source"]}: {len(no_pos)} of {len(classes)} classes have no positive in the {s["split"]} split '
                f'({said}): the cell values were read with the wrong meaning; declare them with {value_flag} (e.g. '
                'yes=pos,no=neg).')
        if no_neg and not grouped:
            warnings.append(f'{s["split"]}: {len(no_neg)} classes have no known negative ({no_neg[:5]}): their AP is 100 '
                            'whatever the model does; check the value meanings or annotate negatives')
        if no_pos:
            warnings.append(f'{s["split"]}: {len(no_pos)} classes have no known positive ({no_pos[:5]}): left out of '
                            'mAP and CP / CR / CF1' + (' (rare classes, or a split too small)' if s['split'] != 'train'
                                                       else '; nothing teaches them'))
    return warnings


def log_card(card: Dict, grouped: bool = False, value_flag: str = '--value-map', log: bool = True):
    """Check the card (an error stops the run), then print it and its warnings."""
    warnings = check_card(card, grouped, value_flag)
    if log:
        _logger.info(format_card(card))
        for w in warnings:
            _logger.warning(w)
    return warnings


def card_of_checkpoint(config: Dict) -> Optional[Dict]:
    card = config.get('data_card')
    return card if isinstance(card, dict) and isinstance(card.get('splits'), list) else None
