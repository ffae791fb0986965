""" What every label reader returns: the images of one split, their sparse targets and the label schema."""
from dataclasses import dataclass, field
from typing import List, Optional, Sequence

from timm_ml.schema import LabelSchema

from .targets import SparseTargets


@dataclass
class LabelSet:
    """ One split of a dataset.

    Args:
        schema: Column names and exclusive groups (see timm_ml.schema); `classes` is `schema.classes`.
        paths: Image paths relative to `root` (or sample keys of a streamed source).
        targets: Sparse (N, C) targets, 1 / 0 / -1.
        root: Folder the paths are relative to.
        skipped: Rows skipped under the 'skip' policy, with reasons.
        source: The label file (or source) read.
        format: The reader that read it.
        split: The split name as found on disk (e.g. 'train2017' for the split asked as 'train').
        meanings: What the label file's cell values were read as (declared by its reader or by --value-map).
    """
    schema: LabelSchema
    paths: List[str]
    targets: SparseTargets
    root: str = ''
    skipped: List[str] = field(default_factory=list)
    source: str = ''
    format: str = ''
    split: str = ''
    meanings: str = ''

    def __post_init__(self):
        if self.targets.num_classes != self.schema.num_classes:
            raise ValueError(f'{self.source}: {self.targets.num_classes} target columns for '
                             f'{self.schema.num_classes} classes')
        if len(self.targets) != len(self.paths):
            raise ValueError(f'{self.source}: {len(self.targets)} target rows for {len(self.paths)} images')

    def __len__(self):
        return len(self.paths)

    @property
    def classes(self) -> List[str]:
        return self.schema.classes

    @property
    def num_classes(self) -> int:
        return self.schema.num_classes

    def subset(self, rows: Sequence[int]) -> 'LabelSet':
        out = LabelSet(self.schema, [self.paths[i] for i in rows], self.targets.subset(rows), self.root,
                       list(self.skipped), self.source, self.format, self.split, self.meanings)
        if getattr(self, 'images', None) is not None:
            out.images = self.images
        return out

    def describe(self) -> str:
        """One line: images, classes, positives per image, unknown rate, groups."""
        counts = self.targets.class_counts()
        entries = max(1, len(self) * self.num_classes)
        line = (f'{self.source}: {len(self)} images, {self.num_classes} {"class" if self.num_classes == 1 else "classes"}'
                f', {counts[0].sum() / max(1, len(self)):.2f} positives per image, '
                f'{100 * counts[2].sum() / entries:.1f}% unknown')
        if self.schema.groups:
            line += f', {self.schema.describe()}'
        if self.skipped:
            line += f', {len(self.skipped)} rows skipped'
        return line


def class_difference(saved: Sequence[str], current: Sequence[str], saved_name: str = 'checkpoint',
                     current_name: str = 'data') -> str:
    """'' when both class lists are equal, else a short description of how they differ (`saved_name`: what the first
    list is, e.g. the checkpoint or the train split)."""
    saved, current = list(saved), list(current)
    if saved == current:
        return ''
    missing, extra = [c for c in current if c not in set(saved)], [c for c in saved if c not in set(current)]
    if not missing and not extra:
        if len(saved) != len(current):
            return f'{len(saved)} vs {len(current)} entries with repeated names'
        first = next(i for i, c in enumerate(current) if saved[i] != c)
        return (f'same {len(current)} classes in another order (from position {first}: {saved_name} '
                f'{saved[first:first + 3]}, {current_name} {current[first:first + 3]})')
    return (f'{len(missing)} classes of the {current_name} are not in the {saved_name} (e.g. {missing[:5]}), '
            f'{len(extra)} {saved_name} classes are not in the {current_name} (e.g. {extra[:5]})')


def check_per_class(values, classes: Sequence[str], what: str, source: Optional[str] = None):
    """A per-class list read from a file or checkpoint must have one entry per class (never cut short by zip)."""
    if len(values) != len(classes):
        raise ValueError(f'{source + ": " if source else ""}{len(values)} {what} for {len(classes)} classes')
    return values
