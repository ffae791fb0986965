""" Training curves from summary.csv: loss, mAP / F1 and learning rate over epochs.

    python -m timm_ml.plot output/train/<exp>/summary.csv [more summary.csv ...] [--out curves.png]

Several summaries are overlaid, one colour per run (labelled by its experiment folder); the best epoch of --metric
(default eval_map) is marked. Writes curves.png in the current folder unless --out names the file.
"""
import argparse
import os
from typing import Optional, Sequence

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402
import pandas as pd  # noqa: E402

from timm_ml.utils.escape import plot_text  # noqa: E402
from timm_ml.utils.outputs import PNG_METADATA, OutputError  # noqa: E402
from timm_ml.utils.writer import write_file  # noqa: E402

PANELS = (
    ('loss', ('train_loss', 'eval_loss')),
    ('percent', ('eval_map', 'eval_CF1', 'eval_OF1', 'eval_attr_mean_acc')),
    ('learning rate', ('lr',)),
)


def read_summary(path: str) -> pd.DataFrame:
    """summary.csv as a frame; a file without timm's header row (or not a summary at all) is an error."""
    frame = pd.read_csv(path)
    if 'epoch' not in frame.columns:
        raise ValueError(f'{path} has no header row with an "epoch" column (first row: {list(frame.columns)[:4]}): '
                         'not a train.py summary.csv, or one whose header was lost')
    return frame


def plot_summaries(paths: Sequence[str], out: Optional[str] = None, metric: Optional[str] = None) -> str:
    """Write one PNG with a panel each for loss, metrics and lr; one colour per run, one line style per column; the
    best epoch of `metric` is starred, and said in the legend (below the panels, so it covers no curve and two runs
    peaking at the same epoch never write over each other). Epoch ticks are whole numbers. Returns the PNG's path
    (default: curves.png here)."""
    out = out or 'curves.png'
    frames = [read_summary(p) for p in paths]
    if metric is not None:  # named: it must be there (the default star is left out of runs without validation)
        for path, frame in zip(paths, frames):
            if metric not in frame.columns:
                columns = ', '.join(c for c in frame.columns if c != 'epoch')
                raise ValueError(f'--metric {metric}: no such column in {path}; its columns: {columns}')
    metric = metric or 'eval_map'
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    colours = plt.rcParams['axes.prop_cycle'].by_key()['color']
    styles = ('-', '--', ':', '-.')
    handles, labels = [], []
    for run_idx, (path, frame) in enumerate(zip(paths, frames)):
        run = os.path.basename(os.path.dirname(os.path.abspath(path)))
        colour = colours[run_idx % len(colours)]
        lowest = metric.endswith('loss')  # a loss is best at its minimum
        best = frame.loc[frame[metric].idxmin() if lowest else frame[metric].idxmax()] \
            if metric in frame.columns and frame[metric].notna().any() else None
        for ax, (ylabel, columns) in zip(axes, PANELS):
            for k, col in enumerate(c for c in columns if c in frame.columns and frame[c].notna().any()):
                label = col if len(paths) == 1 else f'{run}: {col}'
                colour_here = colours[k % len(colours)] if len(paths) == 1 else colour
                line, = ax.plot(frame['epoch'], frame[col], styles[k % len(styles)], marker='o', ms=3,
                                color=colour_here, label=label)
                if label not in labels:
                    handles.append(line)
                    labels.append(label)
            if best is not None:
                ax.axvline(best['epoch'], color=colour, alpha=0.35, lw=1)
            ax.set_xlabel('epoch')
            ax.set_ylabel(ylabel)
            ax.grid(alpha=0.3)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if best is not None:
            star, = axes[1].plot(best['epoch'], best[metric], '*', ms=14, color=colour, zorder=5, ls='none')
            name = metric[5:] if metric.startswith('eval_') else metric
            handles.append(star)
            labels.append(f'{run + ": " if len(paths) > 1 else ""}best {name} {best[metric]:.2f} (epoch '
                          f'{int(best["epoch"])})')
    axes[2].ticklabel_format(axis='y', style='sci', scilimits=(-3, 3))
    fig.suptitle(plot_text(', '.join(os.path.basename(os.path.dirname(os.path.abspath(p))) for p in paths)),
                 fontsize=10)
    columns = min(4, max(1, len(labels)))
    rows = (len(labels) + columns - 1) // columns
    fig.legend(handles, labels, loc='lower center', ncol=columns, fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.04 + 0.045 * rows, 1, 1))
    write_file(out, lambda tmp: fig.savefig(tmp, dpi=110, format='png', metadata=PNG_METADATA), '--out',
               kinds=('plot',))
    plt.close(fig)
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('summaries', nargs='+', help='summary.csv files')
    parser.add_argument('--out', default=None, help='PNG path (default: curves.png in the current folder)')
    parser.add_argument('--metric', default=None, help='column whose best epoch is marked (default: eval_map, when '
                                                       'the runs have it)')
    args = parser.parse_args()
    try:
        print(plot_summaries(args.summaries, args.out, args.metric))
    except (ValueError, OutputError, FileNotFoundError, pd.errors.EmptyDataError) as e:
        parser.error(str(e))


if __name__ == '__main__':
    main()
