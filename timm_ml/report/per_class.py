""" Per-class report after validation: per_class.csv and a PNG of AP per class, sorted, with positive counts, so a
person sees at a glance which classes fail."""
import csv
import math

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402

from timm_ml.utils.escape import plot_text, spreadsheet_cell  # noqa: E402
from timm_ml.utils.outputs import PNG_METADATA  # noqa: E402
from timm_ml.utils.writer import check_writable, write_file  # noqa: E402


def write_per_class_report(per_class, prefix: str, title: str = ''):
    """Write <prefix>_per_class.csv (one row per class) and <prefix>_per_class.png; returns both paths.

    Args:
        per_class: MultiLabelResult.per_class rows (name, ap, positives, precision, recall, f1, threshold, ...).
        prefix: Path prefix of the two files.
    """
    csv_path, png_path = prefix + '_per_class.csv', prefix + '_per_class.png'
    check_writable(png_path, 'per-class chart', kinds=('per-class',))

    def write_table(tmp):
        with open(tmp, 'w', newline='') as f:
            w = csv.DictWriter(f, fieldnames=list(per_class[0].keys()))
            w.writeheader()
            w.writerows({k: spreadsheet_cell(v) if isinstance(v, str) else v for k, v in r.items()}
                        for r in per_class)
    write_file(csv_path, write_table, 'per-class table', kinds=('per-class',))
    rows = sorted((r for r in per_class if not math.isnan(r['ap'])), key=lambda r: r['ap'])
    height = max(3., 0.22 * len(rows) + 1.2)
    fig, ax = plt.subplots(figsize=(8, min(height, 60)))
    ax.barh(range(len(rows)), [r['ap'] for r in rows], color=['#d62728' if r['ap'] < 50 else '#1f77b4' for r in rows])
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels([f'{plot_text(r["name"])} ({r["positives"]})' for r in rows], fontsize=7)
    ax.set_xlim(0, 100)
    ax.set_xlabel('AP (%)  -  label: class (positives in this split)')
    mean = sum(r['ap'] for r in rows) / max(len(rows), 1)
    ax.axvline(mean, color='k', ls='--', lw=1)
    missing = len(per_class) - len(rows)
    ax.set_title((plot_text(title) + '\n' if title else '') + f'AP per class, sorted (mAP {mean:.2f}'
                 + (f'; {missing} classes without a known positive left out' if missing else '') + ')', fontsize=9)
    ax.grid(axis='x', alpha=0.3)
    fig.tight_layout()
    write_file(png_path, lambda tmp: fig.savefig(tmp, dpi=110, format='png', metadata=PNG_METADATA), 'per-class chart',
               kinds=('per-class',))
    plt.close(fig)
    return csv_path, png_path
