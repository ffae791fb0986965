""" What the cells of a value-coded label column mean: declared by the reader for its format (CelebA: -1 = does not
have), or by the user (`--value-map`, `--uncertain`), and printed; never guessed.

A value map is written `1=pos,0=neg,-1=unk,blank=unk`: each cell value (numbers compared as numbers: `1.0` is `1`;
`true` / `false`; `blank` for an empty cell) is `pos`, `neg`, `unk` (not annotated) or `unc` (uncertain, read as
`--uncertain`: ignore = unknown, positive or negative).
"""
import math
from dataclasses import dataclass, field
from typing import Dict, Optional

from ..targets import NEGATIVE, POSITIVE, UNKNOWN
from .reader import LabelFileError

UNCERTAIN = 2  # a cell that states uncertainty: read as the --uncertain policy says
MEANINGS = {'pos': POSITIVE, 'neg': NEGATIVE, 'unk': UNKNOWN, 'unc': UNCERTAIN}
UNCERTAIN_POLICIES = {'ignore': UNKNOWN, 'positive': POSITIVE, 'negative': NEGATIVE}
_NAMES = {POSITIVE: 'positive', NEGATIVE: 'negative', UNKNOWN: 'unknown', UNCERTAIN: 'uncertain'}


def cell_key(cell: str) -> str:
    """One spelling per value: stripped, lower case, numbers as numbers ('1.0' -> '1', '-1.00' -> '-1'), '' -> blank."""
    text = cell.strip().lower()
    if not text:
        return 'blank'
    try:
        number = float(text)
    except ValueError:
        return text
    if not math.isfinite(number):  # 'nan', 'inf': words, not numbers (NaN is an unknown spelling, inf no value)
        return text
    return str(int(number)) if number == int(number) else repr(number)


@dataclass(frozen=True)
class ValueMap:
    """ Cell value -> meaning, with who declared it (shown in the log and the data card).

    Args:
        meanings: {cell_key: POSITIVE / NEGATIVE / UNKNOWN / UNCERTAIN}.
        declared_by: Who says so ('the one-hot CSV default', 'CelebA (list_attr_celeba.txt)', '--value-map').
        uncertain: The --uncertain policy for UNCERTAIN cells: 'ignore' (unknown), 'positive' or 'negative'.
    """
    meanings: Dict[str, int] = field(default_factory=dict)
    declared_by: str = ''
    uncertain: str = 'ignore'

    @classmethod
    def parse(cls, spec: str, declared_by: str = '--value-map', uncertain: Optional[str] = None) -> 'ValueMap':
        meanings = {}
        for part in spec.split(','):
            value, sep, meaning = part.strip().rpartition('=')
            if not sep or meaning.strip().lower() not in MEANINGS or not value.strip():
                raise LabelFileError(f'--value-map {spec!r}: each entry is <cell value>=pos|neg|unk|unc, e.g. '
                                     '1=pos,0=neg,-1=unk,blank=unk')
            meanings[cell_key(value) if value.strip().lower() != 'blank' else 'blank'] = MEANINGS[
                meaning.strip().lower()]
        return cls(meanings, declared_by, uncertain or 'ignore')

    def with_uncertain(self, policy: Optional[str]) -> 'ValueMap':
        if policy is None:
            return self
        if policy not in UNCERTAIN_POLICIES:
            raise LabelFileError(f'--uncertain {policy!r}: one of {", ".join(UNCERTAIN_POLICIES)}')
        return ValueMap(self.meanings, self.declared_by, policy)

    def read(self, cell: str) -> Optional[int]:
        """The target of a cell (1 / 0 / -1), or None when the map does not know the value."""
        meaning = self.meanings.get(cell_key(cell))
        if meaning == UNCERTAIN:
            return UNCERTAIN_POLICIES[self.uncertain]
        return meaning

    def knows(self, cell: str) -> bool:
        return cell_key(cell) in self.meanings

    def describe(self) -> str:
        parts = []
        for value, meaning in self.meanings.items():
            said = _NAMES[meaning]
            if meaning == UNCERTAIN:
                said += f' (--uncertain {self.uncertain}: {_NAMES[UNCERTAIN_POLICIES[self.uncertain]]})'
            parts.append(f'{value} = {said}')
        return ', '.join(parts) + (f' (declared by {self.declared_by})' if self.declared_by else '')


# one column per class (and the report-labeller CSVs of CheXpert / MIMIC-CXR): 1 positive, 0 negative, -1 uncertain
# (read as --uncertain: ignore = unknown by default), blank / #N/A / NaN not annotated
ONE_HOT_DEFAULT = ValueMap({'1': POSITIVE, 'true': POSITIVE, '0': NEGATIVE, 'false': NEGATIVE, '-1': UNCERTAIN,
                            'blank': UNKNOWN, '#n/a': UNKNOWN, 'nan': UNKNOWN},
                           'the one-hot CSV default; --value-map and --uncertain change it')
