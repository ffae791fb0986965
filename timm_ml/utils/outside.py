""" The input boundary: values read from a file someone else wrote (label files, `_info.json`, shards, Hugging Face
folders, checkpoints, export metadata) are checked here, where they enter, by the readers of those files.

- a name that will be joined to a path or a URL (a shard file) is a plain file name: no path or shell syntax;
- a path from a file resolves inside its root (no absolute path, no `..` above it) unless the user allows it;
- per-class values are finite and in range, lists of names match the columns they name, declared counts match what is
  read, and record fields the tools write are not taken by names from the data.
"""
import math
import os
import re
from typing import Iterable, List, Optional, Sequence

import numpy as np

# a file name with no directory part, no shell syntax (spaces, quotes, ; | & $ ` < > ( ) * ? ! ~ #), no control
# characters, not starting with '-' or '.': safe to append to a path or to a `pipe:` command
PLAIN_NAME = re.compile(r'^[A-Za-z0-9_][A-Za-z0-9_.+=,@%-]*$')
# the fields of a prediction record (infer.py, the torch-free reader); a group of the data may not take their name
RESERVED_RECORD_FIELDS = ('path', 'labels', 'tags', 'scores', 'error', 'thresholds', 'classes')
_TOPK_FIELD = re.compile(r'^top\d+$')


class OutsideValueError(ValueError):
    """A value in a file someone else wrote that cannot be used as it is; the message names the file."""


def check_plain_name(name, what: str, source: str) -> str:
    """`name` as a plain file name (see PLAIN_NAME), else an error naming `source`."""
    if not isinstance(name, str) or not PLAIN_NAME.fullmatch(name) or '..' in name:
        raise OutsideValueError(f'{source}: {what} {name!r} is not a plain file name (letters, digits, "._+=,@%-"; no '
                                'path, shell or control characters): refused, it would be joined to a path or a '
                                'command')
    return name


def resolve_inside(root: str, path: str, source: str, allow_outside: bool = False, flag: str = '') -> str:
    """ `path` (from a file) joined to `root`; an absolute path or one climbing above `root` (`..`, or a symlink
    leading out) is refused unless `allow_outside`.

    Args:
        root: The folder the file's paths are relative to. path: The path as the file gives it.
        source: The file and row, for the message. allow_outside: The user allowed paths outside the root.
        flag: The flag that allows it, named in the message.
    """
    joined = os.path.normpath(os.path.join(root, path))
    if allow_outside:
        return joined
    base = os.path.realpath(root)
    inside = not os.path.isabs(path) and os.path.normpath(path).split(os.sep)[0] != '..'
    if inside:
        real = os.path.realpath(joined)
        inside = real == base or real.startswith(base.rstrip(os.sep) + os.sep)
    if not inside:
        raise OutsideValueError(f'{source}: path {path!r} lies outside its root {root}'
                                + (f'; pass {flag} if the files really live there' if flag else '')
                                + ' (a label file names images under its own folder)')
    return joined


def check_probabilities(values, count: int, what: str, source: str, open_interval: bool = True) -> np.ndarray:
    """`count` finite probabilities (strictly between 0 and 1 when open_interval), as float32."""
    try:
        array = np.asarray(values, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise OutsideValueError(f'{source}: {what} are not numbers') from None
    if len(array) != count:
        raise OutsideValueError(f'{source}: {len(array)} {what} for {count} classes')
    bad = [i for i, v in enumerate(array) if not math.isfinite(v) or not (0 < v < 1 if open_interval else 0 <= v <= 1)]
    if bad:
        raise OutsideValueError(f'{source}: {what} must be finite probabilities '
                                f'({"strictly between 0 and 1" if open_interval else "in [0, 1]"}); '
                                f'{len(bad)} are not, e.g. index {bad[0]}: {array[bad[0]]}')
    return array.astype(np.float32)


def check_names(names, count: Optional[int], what: str, source: str) -> List[str]:
    """A list of distinct, non-empty strings, `count` long when given (the columns they name)."""
    if not isinstance(names, (list, tuple)) or not all(isinstance(n, str) and n.strip() for n in names):
        raise OutsideValueError(f'{source}: {what} must be a list of non-empty strings')
    if count is not None and len(names) != count:
        raise OutsideValueError(f'{source}: {len(names)} {what} for {count} output columns: every label would be read '
                                'under another name')
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if list(names).count(n) > 1})
        raise OutsideValueError(f'{source}: duplicate {what} {dup[:5]}')
    return list(names)


def check_count(declared: int, found: int, what: str, source: str):
    """A count a file declares must be what is read."""
    if int(declared) != int(found):
        raise OutsideValueError(f'{source}: declares {declared} {what}, holds {found}: damaged or edited; rewrite it')


def check_group_names(names: Iterable[str], source: str):
    """Group names become fields of prediction records: the records' own fields are refused."""
    for name in names:
        if name in RESERVED_RECORD_FIELDS or _TOPK_FIELD.fullmatch(str(name)):
            raise OutsideValueError(f'{source}: a label group is named {name!r}, a field every prediction record '
                                    f'has ({", ".join(RESERVED_RECORD_FIELDS)}, top<k>): rename the group')


def reserved_group_names(names: Sequence[str]) -> List[str]:
    return [n for n in names if n in RESERVED_RECORD_FIELDS or _TOPK_FIELD.fullmatch(str(n))]
