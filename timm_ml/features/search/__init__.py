""" Which head and loss for my data: the fair protocol on a feature cache. Every row (a head with its loss) trains
through train.py (`--features`: the same task, evaluator, checkpoints) over the same lr grid, each run until val mAP
stops improving (--early-stop-patience) within an epoch budget; the lr with the best val mAP is chosen and only then
is test scored (on the cached test features); the top rows are rerun with more seeds (test mean and half-range).
Writes search.csv (every run), table.md and table.png.
"""
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from typing import List, Sequence, Tuple

import matplotlib
matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from timm_ml.metrics import compute_multilabel_metrics  # noqa: E402
from timm_ml.recipes import scoring_schema  # noqa: E402
from timm_ml.schema import LabelSchema  # noqa: E402
from timm_ml.data.feature_cache import cache_identity  # noqa: E402
from timm_ml.utils.escape import plot_text  # noqa: E402
from timm_ml.utils.outputs import GENERATOR, PNG_METADATA, OutputError, own_folder_kind  # noqa: E402
from timm_ml.utils.writer import write_file, write_text  # noqa: E402

from ..scoring import cache_scores  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
ROWS = {
    'bce-linear': ['--ml-head', 'linear', '--loss', 'bce'],
    'asl-linear': ['--ml-head', 'linear', '--loss', 'asl'],
    'aam-cosine': ['--ml-head', 'cosine'],
    'mldecoder': ['--ml-head', 'mldecoder'],
    'gcn': ['--ml-head', 'gcn'],
    'ssgrl': ['--ml-head', 'ssgrl'],
}


@dataclass
class SearchSpec:
    """ Args:
        cache: The feature cache. out: The search folder. rows: Row names (ROWS) or 'name=flags'.
        lrs: The lr grid (every row the same). epochs / patience: Budget and early stopping on val mAP.
        seeds: Seeds of the top rows (the first seed searches). top: Rows rerun with the other seeds.
        extra: Flags every run shares (batch size, optimizer, --simulate-partial ...).
        val_split / test_split: The cache's splits.
    """
    cache: str
    out: str
    rows: Sequence[str] = ('bce-linear', 'asl-linear', 'aam-cosine', 'mldecoder')
    lrs: Sequence[float] = (3e-4, 1e-3, 3e-3)
    epochs: int = 30
    patience: int = 3
    seeds: Sequence[int] = (0, 1)
    top: int = 2
    extra: Sequence[str] = ('-b', '128', '--opt', 'adamw', '--weight-decay', '1e-4', '--sched', 'cosine',
                            '--warmup-epochs', '0')
    val_split: str = 'validation'
    test_split: str = 'test'
    runs: List[dict] = field(default_factory=list)


ROW_NAME = re.compile(r'[A-Za-z0-9][A-Za-z0-9_.+-]{0,63}')
# set by the search itself for every run: a row or --shared giving them would train on another cache or budget
SEARCH_FLAGS = ('--features', '--lr', '--epochs', '--early-stop-patience', '--seed', '--val-split', '--output',
                '--experiment', '--resume', '--initial-checkpoint', '--checkpoint-hist', '--data-dir', '--data')
MARKER = 'search.json'


class SearchError(ValueError):
    """A search the user asked for that cannot run as given (the message names the flag or the failed run)."""


def row_flags(row: str) -> Tuple[str, List[str]]:
    if '=' in row:
        name, _, flags = row.partition('=')
        flags = flags.split()
    elif row in ROWS:
        name, flags = row, list(ROWS[row])
    else:
        raise SearchError(f'--rows {row!r}: one of {", ".join(ROWS)} or name="--flags ..."')
    if not ROW_NAME.fullmatch(name) or '..' in name:
        raise SearchError(f'--rows {row!r}: a row name is a plain name (letters, digits, "_.+-"; it names the run '
                          'folders)')
    check_flags(flags, f'--rows {name}')
    return name, flags


def check_flags(flags: Sequence[str], what: str):
    """train.py reads abbreviations too (argparse): `--feat X` is `--features X`."""
    names = [f.split('=', 1)[0] for f in flags if f.startswith('--')]
    given = [n for n in names if any(full.startswith(n) for full in SEARCH_FLAGS)]
    if given:
        raise SearchError(f'{what}: {" ".join(given)} refused: the search sets {", ".join(SEARCH_FLAGS)} itself '
                          'for every run, and takes only train.py flags')


def prepare_out(out: str, cache: str):
    """The search folder: new, or an earlier search's (its marker); never a symlink or someone else's folder."""
    if os.path.islink(out):
        raise OutputError(f'--out {out}: a symbolic link; a search never writes through one')
    if os.path.exists(out) and not os.path.isdir(out):
        raise OutputError(f'--out {out}: that is a file; name a new folder')
    if os.path.isdir(out) and os.listdir(out) and own_folder_kind(out) != 'search':
        raise OutputError(f'--out {out}: that folder exists and is not a search of ours; name a new folder')
    os.makedirs(out, exist_ok=True)
    write_text(os.path.join(out, MARKER), json.dumps(dict(writer=GENERATOR, cache=cache)), '--out', kinds=None)


def _train(spec: SearchSpec, name: str, flags: List[str], lr: float, seed: int, log) -> dict:
    exp = f'{name}-lr{lr:g}-s{seed}'
    folder = os.path.join(spec.out, 'runs', exp)
    cmd = [sys.executable, os.path.join(REPO, 'train.py'), *flags, *spec.extra, '--features', spec.cache,
           '--lr', f'{lr:g}', '--epochs', str(spec.epochs), '--early-stop-patience', str(spec.patience),
           '--seed', str(seed), '--val-split', spec.val_split, '-j', '0', '--log-interval', '100000',
           '--checkpoint-hist', '1', '--output', os.path.join(spec.out, 'runs'), '--experiment', exp]
    stamp = os.path.join(folder, 'search_command.json')
    record = dict(command=cmd[1:], cache=cache_identity(spec.cache))  # a rebuilt cache is never scored by old runs
    if not (os.path.isfile(stamp) and not os.path.islink(stamp) and _read_json(stamp) == record):
        log(f'{exp}: training')
        proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
        if proc.returncode != 0:
            last = proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f'exit status {proc.returncode}'
            raise SearchError(f'run {exp} failed ({os.path.join(spec.out, "runs", exp)}): {last}')
        write_text(stamp, json.dumps(record), kinds=None)
    summary = pd.read_csv(os.path.join(folder, 'summary.csv'))
    best = int(summary.eval_map.idxmax())
    return dict(row=name, lr=lr, seed=seed, val_map=float(summary.eval_map.max()),
                best_epoch=int(summary.epoch[best]), epochs_run=len(summary), folder=folder)


def _read_json(path: str):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def _test(spec: SearchSpec, run: dict) -> float:
    logits, target, config = cache_scores(os.path.join(run['folder'], 'model_best.pth.tar'), spec.cache,
                                          spec.test_split)
    result = compute_multilabel_metrics(logits, target, LabelSchema.from_config(config), scoring_schema(config))
    return float(result.summary['map'])


def run_search(spec: SearchSpec, log=print) -> pd.DataFrame:
    """Every row x lr at the first seed, the chosen lr per row by val, the top rows at the other seeds; test scored
    for the chosen runs only. Returns the table (one line per row)."""
    spec.cache, spec.out = os.path.abspath(spec.cache), os.path.abspath(spec.out)  # the runs start in the repo
    rows = [row_flags(r) for r in spec.rows]
    check_flags(spec.extra, '--shared')
    if len({name for name, _ in rows}) != len(rows):
        raise SearchError(f'--rows: two rows share a name ({", ".join(name for name, _ in rows)})')
    cache_identity(spec.cache)  # a readable, finished cache before any run
    prepare_out(spec.out, spec.cache)
    runs = []
    for name, flags in rows:
        for lr in spec.lrs:
            runs.append(_train(spec, name, flags, lr, spec.seeds[0], log))
            log(f'  {name} lr {lr:g}: val mAP {runs[-1]["val_map"]:.2f} (best epoch {runs[-1]["best_epoch"]} of '
                f'{runs[-1]["epochs_run"]})')
    frame = pd.DataFrame(runs)
    chosen = frame.loc[frame.groupby('row', sort=False).val_map.idxmax()].copy()
    chosen['test'] = [[_test(spec, r)] for r in chosen.to_dict('records')]
    top = chosen.sort_values('val_map', ascending=False).row.tolist()[:spec.top]
    for name, flags in rows:
        if name in top:
            lr = float(chosen.loc[chosen.row == name, 'lr'].iloc[0])
            for seed in spec.seeds[1:]:
                extra = _train(spec, name, flags, lr, seed, log)
                runs.append(extra)
                chosen.loc[chosen.row == name, 'test'].iloc[0].append(_test(spec, extra))
    table = pd.DataFrame([dict(row=r.row, lr=r.lr, val_map=r.val_map, best_epoch=r.best_epoch,
                               epochs_run=r.epochs_run, test_map=float(np.mean(r.test)),
                               test_half_range=float((max(r.test) - min(r.test)) / 2), seeds=len(r.test))
                          for r in chosen.itertuples()])
    write_text(os.path.join(spec.out, 'search.csv'), pd.DataFrame(runs).to_csv(index=False), kinds=None)
    write_text(os.path.join(spec.out, 'table.md'), table_markdown(table, spec), kinds=None)
    _plot(table, os.path.join(spec.out, 'table.png'))
    return table


def table_markdown(table: pd.DataFrame, spec: SearchSpec) -> str:
    lines = [f'Search on {spec.cache}: lr in {", ".join(f"{lr:g}" for lr in spec.lrs)}, up to {spec.epochs} epochs '
             f'(stopped after {spec.patience} without a better val mAP), chosen on val, test on the cached '
             f'{spec.test_split} split ({len(spec.seeds)} seeds for the top {spec.top} rows).', '',
             '| row | chosen lr | val mAP (best epoch / run) | test mAP |', '|---|---|---|---|']
    for r in table.sort_values('test_map', ascending=False).itertuples():
        spread = f' ± {r.test_half_range:.2f} ({r.seeds} seeds)' if r.seeds > 1 else ''
        lines.append(f'| {r.row} | {r.lr:g} | {r.val_map:.2f} ({r.best_epoch} / {r.epochs_run}) | '
                     f'{r.test_map:.2f}{spread} |')
    return '\n'.join(lines) + '\n'


def _plot(table: pd.DataFrame, path: str):
    order = table.sort_values('test_map')
    fig, ax = plt.subplots(figsize=(7, 0.5 + 0.45 * len(order)))
    ax.barh([plot_text(r) for r in order.row], order.test_map, xerr=order.test_half_range, color='#4878a8')
    ax.scatter(order.val_map, range(len(order)), color='#d65f5f', zorder=3, label='val mAP (chosen lr)')
    ax.set_xlabel('test mAP (bars; ± half-range over seeds)')
    ax.legend(loc='lower right', fontsize=8)
    ax.grid(axis='x', alpha=0.3)
    fig.tight_layout()
    write_file(path, lambda tmp: fig.savefig(tmp, dpi=110, format='png', metadata=PNG_METADATA), 'search table',
               kinds=('plot',))
    plt.close(fig)
