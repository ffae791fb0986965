""" The budget ladder: end-to-end fine-tuning of the top rows of the 224 px frozen-feature table at 64 / 96 / 128 px,
the same epochs, recipe and lr at every rung, so the question "does the ranking on a frozen cache predict the
fine-tuned one?" is answered on one set.

    python bench/ladder.py                      # emoji: ASL + linear, BCE + linear, ML-GCN at 64 / 96 / 128 px
    python bench/ladder.py --readme             # and write its table into README.md (LADDER markers)

Protocol: bench/real_data.py's recipe (tf_efficientnet_lite0 from ImageNet weights, AdamW, cosine per update, batch
64, 4 epochs, no warmup, --channels-last), each row's own flags; every row keeps at every rung the lr it chose on val
in the 64 px fair table (searched over 3e-4 / 1e-3 / 3e-3), so a rung differs from the next by the image size only.
Each cell runs seeds 0 and 1 (mean ± half-range): equivalent runs of this recipe differ by 2 to 3 val mAP on this
CPU (thread count, memory format). model_best (best val mAP) is reported on test (`--splits test,test_twemoji` adds
the Twemoji-style split). The frozen column is the row's test mAP on the 224 px cache (bench/feature_table.py's
search; read from its search folder when present). Every cell's first seed runs before any second one, smallest rung
first, so an interrupted ladder still has whole rungs; finished runs are reused when their command is unchanged.
Writes output/bench_ladder/<set>/{runs.csv (per seed), results.csv, table.md, ladder.png}.
"""
import argparse
import json
import os
import re
import sys
import time

import pandas as pd

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _bench import ROOT, recipe, run  # noqa: E402
from real_data import ROWS, SETS, ensure_sets, slug  # noqa: E402

# the lr each row chose on val in the 64 px fair table (README, "Which head and loss")
FAIR_LRS = {'BCE + linear': 3e-3, 'ASL + linear': 3e-3, 'ML-GCN': 1e-3, 'AAM + cosine': 1e-3, 'ML-Decoder': 3e-4}
# the frozen table's row names (python -m timm_ml.features.search --rows)
FROZEN_NAMES = {'BCE + linear': 'bce-linear', 'ASL + linear': 'asl-linear', 'ML-GCN': 'gcn',
                'AAM + cosine': 'aam-cosine', 'ML-Decoder': 'mldecoder'}
README_START, README_END = '<!-- LADDER_START -->', '<!-- LADDER_END -->'


def frozen_test_maps(set_name: str, model: str = 'tf_efficientnet_lite0', img_size: int = 224) -> dict:
    """{row: test mAP of its chosen frozen-feature run (mean over seeds)} from the feature table's search folder
    (its table.md: | row | chosen lr | val mAP (...) | test mAP [± half-range (2 seeds)] |)."""
    path = os.path.join(ROOT, 'output', 'bench_features', f'{set_name}-{model}-{img_size}', 'heads', 'table.md')
    if not os.path.isfile(path):
        return {}
    by_name = {v: k for k, v in FROZEN_NAMES.items()}
    found = {}
    for line in open(path):
        cells = [c.strip() for c in line.strip().strip('|').split('|')]
        if len(cells) == 4 and cells[0] in by_name:
            found[by_name[cells[0]]] = float(re.match(r'[0-9.]+', cells[3]).group())
    return found


def timed_run(data, flags, out_dir, splits):
    """_bench.run, keeping the wall time of the training run that made the folder (a reused run keeps its time)."""
    timing = os.path.join(os.path.dirname(out_dir), os.path.basename(out_dir) + '.time.json')
    stamp = os.path.join(out_dir, 'bench_command.json')
    fresh = not os.path.isfile(stamp)
    start = time.time()
    result = run(data, flags, out_dir, splits)
    if fresh or not os.path.isfile(timing):
        with open(timing, 'w') as f:
            json.dump(dict(seconds=time.time() - start if fresh else float('nan')), f)
    with open(timing) as f:
        result['seconds'] = json.load(f)['seconds']
    return result


def plot(table: pd.DataFrame, frozen: dict, path: str, set_name: str):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for i, (row, part) in enumerate(table.groupby('row', sort=False)):
        color = f'C{i}'
        ax.errorbar(part.img_size, part.test_map, yerr=part.test_half_range, marker='o', capsize=3, color=color,
                    label=f'{row}, fine-tuned')
        if row in frozen:
            ax.axhline(frozen[row], color=color, linestyle=':', label=f'{row}, frozen 224 px head')
    ax.set_xlabel('image size (px), end-to-end fine-tuning, same epochs')
    ax.set_ylabel('test mAP')
    ax.set_xticks(sorted(table.img_size.unique()))
    ax.set_title(f'{set_name}: budget ladder vs the frozen-feature table')
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def to_markdown(table: pd.DataFrame, frozen: dict, sizes, epochs: int, splits) -> str:
    rank = lambda scores: {r: i + 1 for i, r in enumerate(sorted(scores, key=lambda r: -scores[r]))}  # noqa: E731
    rows = list(dict.fromkeys(table.row))
    frozen_rank = rank({r: frozen[r] for r in rows if r in frozen})
    head = ' | '.join(f'{s} px: val / test' + (' / Twemoji' if 'test_twemoji' in splits else '') for s in sizes)
    lines = [f'| row | lr | frozen 224 px head: test (rank) | {head} | rank by test at {" / ".join(map(str, sizes))} '
             f'px |', '|---' * (4 + len(sizes)) + '|']
    ranks = {s: rank({r: p.test_map.mean() for r, p in table[table.img_size == s].groupby('row')}) for s in sizes}
    for row in rows:
        part = table[table.row == row].set_index('img_size')
        cells = []
        for s in sizes:
            if s not in part.index:
                cells.append('not run')
                continue
            r = part.loc[s]
            cell = f'{r.val_map:.2f} / {r.test_map:.2f}' + (f' ± {r.test_half_range:.2f}' if r.seeds > 1 else '')
            if 'test_twemoji' in splits:
                cell += f' / {r.test_twemoji_map:.2f}'
            cells.append(cell)
        fz = f'{frozen[row]:.2f} ({frozen_rank[row]})' if row in frozen else 'not run'
        order = ' / '.join(str(ranks[s].get(row, '-')) for s in sizes)
        lines.append(f'| {row} | {part.lr.iloc[0]:g} | {fz} | ' + ' | '.join(cells) + f' | {order} |')
    ran = [s for s in sizes if (table.img_size == s).any()]
    minutes = ' / '.join(f'{table[table.img_size == s].seconds.mean() / 60:.1f}' for s in ran)
    seeds = sorted(set(table.seeds))
    lines += ['', f'{epochs} epochs at every rung; val / test mAP are means over {"/".join(map(str, seeds))} seed(s) '
              '(± half-range of test); minutes per run (training with val each epoch, then test; mean over rows '
              f'of the faster seed): {minutes} at {" / ".join(map(str, ran))} px.']
    return '\n'.join(lines) + '\n'


def write_readme(markdown: str):
    path = os.path.join(ROOT, 'README.md')
    text = open(path).read()
    if README_START not in text or README_END not in text:
        raise SystemExit(f'error: {path} has no {README_START} ... {README_END} block to fill')
    text = text[:text.index(README_START) + len(README_START)] + '\n' + markdown + text[text.index(README_END):]
    open(path, 'w').write(text)


def ladder_run(args, data, out_root, flags_of, row, size, seed, splits):
    """One cell's run of one seed (trained unless finished with the same command); None when --cached-only skips it."""
    lr = FAIR_LRS[row]
    out_dir = os.path.join(out_root, slug(row), f'{size}px-lr{lr:g}-s{seed}')
    flags = recipe(size, args.epochs, lr, 0, seed, ['--channels-last', '-j', '2']) + flags_of[row]
    if args.cached_only and not os.path.isfile(os.path.join(out_dir, 'bench_command.json')):
        print(f'{size:4d} px  {row:16s} lr {lr:g} seed {seed}: not run', flush=True)
        return None
    result = timed_run(os.path.join(ROOT, data), flags, out_dir, splits)
    summary = result['summary']
    record = dict(row=row, img_size=size, lr=lr, seed=seed, val_map=summary.eval_map.max(),
                  best_epoch=int(summary.epoch[summary.eval_map.idxmax()]), seconds=result['seconds'])
    for s in splits:
        record[f'{s}_map'] = result[s]['map']
    print(f'{size:4d} px  {row:16s} lr {lr:g} seed {seed}: val {record["val_map"]:.2f}  '
          + '  '.join(f'{s} {record[s + "_map"]:.2f}' for s in splits)
          + f'  ({record["seconds"] / 60:.1f} min)', flush=True)
    return record


def aggregate(runs: pd.DataFrame, splits) -> pd.DataFrame:
    """One row per (row, image size): means over seeds, the test half-range and the number of seeds."""
    cells = []
    for (row, size), part in runs.groupby(['row', 'img_size'], sort=False):
        cell = dict(row=row, img_size=size, lr=part.lr.iloc[0], seeds=len(part), val_map=part.val_map.mean(),
                    seconds=part.seconds.min(), test_half_range=(part.test_map.max() - part.test_map.min()) / 2)
        for s in splits:
            cell[f'{s}_map'] = part[f'{s}_map'].mean()
        cells.append(cell)
    return pd.DataFrame(cells)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--set', default='emoji', choices=SETS)
    parser.add_argument('--rows', default='ASL + linear,BCE + linear,ML-GCN',
                        help='comma-separated rows (the top three of the 224 px frozen table on emoji)')
    parser.add_argument('--sizes', default='64,96,128')
    parser.add_argument('--epochs', type=int, default=4)
    parser.add_argument('--seeds', default='0,1', help='comma-separated seeds of every cell (mean ± half-range)')
    parser.add_argument('--output', default=os.path.join(ROOT, 'output', 'bench_ladder'))
    parser.add_argument('--splits', default='test', help='comma-separated test splits (emoji also has test_twemoji)')
    parser.add_argument('--cached-only', action='store_true',
                        help='table the finished runs only (the others are named "not run")')
    parser.add_argument('--readme', action='store_true')
    args = parser.parse_args()
    ensure_sets([args.set])
    flags_of = dict(ROWS)
    rows = [r.strip() for r in args.rows.split(',') if r.strip()]
    unknown = [r for r in rows if r not in flags_of or r not in FAIR_LRS]
    if unknown:
        raise SystemExit(f'error: --rows: {unknown} not among {sorted(set(flags_of) & set(FAIR_LRS))}')
    sizes = [int(s) for s in args.sizes.split(',')]
    data, known = SETS[args.set]
    splits = tuple(s.strip() for s in args.splits.split(',') if s.strip())
    if not set(splits) <= set(known):
        raise SystemExit(f'error: --splits {args.splits}: {args.set} has {", ".join(known)}')
    out_root = os.path.join(args.output, args.set)
    records = []
    seeds = [int(x) for x in args.seeds.split(',') if x.strip()]
    for seed in seeds:  # every cell's first seed before any second one: an interrupted ladder still has whole rungs
        for size in sizes:
            for row in rows:
                record = ladder_run(args, data, out_root, flags_of, row, size, seed, splits)
                if record:
                    records.append(record)
    table = aggregate(pd.DataFrame(records), splits)
    pd.DataFrame(records).to_csv(os.path.join(out_root, 'runs.csv'), index=False)
    table.to_csv(os.path.join(out_root, 'results.csv'), index=False)
    frozen = frozen_test_maps(args.set)
    markdown = to_markdown(table, frozen, sizes, args.epochs, splits)
    with open(os.path.join(out_root, 'table.md'), 'w') as f:
        f.write(markdown)
    plot(table, frozen, os.path.join(out_root, 'ladder.png'), args.set)
    print(markdown)
    if args.readme:
        write_readme(markdown)


if __name__ == '__main__':
    main()
