""" hypothesis strategies shared by the property tests: label schemas with trees and tags, targets, class names."""
import numpy as np
from hypothesis import strategies as st

from timm_ml.schema import LabelGroup, LabelSchema

# class names people write: separators, quotes, spaces, unicode, digits; never control characters
NAME_ALPHABET = st.characters(blacklist_categories=('Cc', 'Cs', 'Zl', 'Zp'), blacklist_characters='\t\r\n\x0b\x0c')
UNKNOWN_SPELLINGS = {'#N/A', '', 'nan', 'NaN'}


def class_name(extra_forbidden=''):
    return st.text(NAME_ALPHABET, min_size=1, max_size=12).map(str.strip).filter(
        lambda s: s and s not in UNKNOWN_SPELLINGS and not any(c in s for c in extra_forbidden) and
        not s.startswith('"'))


@st.composite
def schemas(draw, max_roots=3, tags=True):
    """A schema of root groups, each value possibly with a child group (one level, sometimes two), and tags."""
    groups, classes = [], []

    def add(name, parent, depth):
        n = draw(st.integers(2, 4))
        values = [f'{name}{i}' for i in range(n)]
        groups.append(LabelGroup(name, values, len(classes), parent))
        classes.extend(values)
        if depth < 2:
            for v in values:
                if draw(st.booleans()) and draw(st.booleans()):
                    add(f'{v}_', v, depth + 1)

    for r in range(draw(st.integers(1, max_roots))):
        add(f'g{r}_', None, 0)
    # groups must be ordered parents before children: add() appends children after their parent's group
    groups.sort(key=lambda g: (0 if g.parent is None else 1 + classes.index(g.parent)))
    order = [c for g in groups for c in g.values]
    start = 0
    for g in groups:
        g.start = start
        start += len(g.values)
    n_tags = draw(st.integers(0, 3)) if tags else 0
    return LabelSchema(order + [f'tag{i}' for i in range(n_tags)], groups)


def random_targets(schema: LabelSchema, rng: np.random.Generator, n: int, unknown: float = 0.2) -> np.ndarray:
    """Consistent targets: a true path per tree (some groups unknown), tags 1 / 0 / -1."""
    from timm_ml.schema import complete_hierarchy
    t = np.full((n, schema.num_classes), -1, np.int8)
    for g in schema.groups:
        if g.parent is None:
            known = rng.random(n) >= unknown
            t[known, g.start:g.end] = 0
            t[known, g.start + rng.integers(0, len(g.values), known.sum())] = 1
    for g in schema.groups:
        if g.parent is not None:
            p = schema.column(g.parent)
            on = (t[:, p] == 1) & (rng.random(n) >= unknown)
            t[on, g.start:g.end] = 0
            t[on, g.start + rng.integers(0, len(g.values), on.sum())] = 1
    ml = schema.multilabel
    if len(ml):
        t[:, ml] = rng.integers(-1, 2, (n, len(ml)))
    return complete_hierarchy(t, schema)
