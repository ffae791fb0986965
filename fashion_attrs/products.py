""" Fashion product heads (gender / articleType / baseColour) from the Kaggle fashion-product-images `styles.csv` or
from `image_path,gender,article,color` CSVs, written as an attribute CSV for train.py (--ml-head attributes).

styles.csv has 10 columns (id, gender, masterCategory, subCategory, articleType, baseColour, season, year, usage,
productDisplayName); the real file has rows whose productDisplayName holds extra commas: those fields are joined back
into the name. Rows with too few fields, an empty id or (with --images) no image file are skipped and counted.
Classes seen fewer than --min-count times are folded into 'Other' (--rare fold) or made unknown (--rare drop).

    python -m fashion_attrs.products styles.csv --images images --out products.csv --min-count 20
"""
import argparse
import csv
import logging
import os
from collections import Counter
from typing import Dict, List, Optional, Tuple

_logger = logging.getLogger(__name__)

STYLES_COLUMNS = ('id', 'gender', 'masterCategory', 'subCategory', 'articleType', 'baseColour', 'season', 'year',
                  'usage', 'productDisplayName')
STYLES_HEADS = ('gender', 'articleType', 'baseColour')
NA = '#N/A'


def read_styles(path: str, images_dir: Optional[str] = None) -> Tuple[List[List[str]], Dict[str, int]]:
    """(rows of [image_path, gender, articleType, baseColour], counts of repaired / skipped rows by reason)."""
    stats = Counter()
    rows = []
    with open(path, newline='', encoding='utf-8') as f:
        reader = csv.reader(f)
        header = [h.strip() for h in next(reader)]
        if tuple(header[:len(STYLES_COLUMNS)]) != STYLES_COLUMNS:
            raise ValueError(f'{path}: row 1: expected styles.csv columns {STYLES_COLUMNS}, got {header}')
        idx = {h: i for i, h in enumerate(STYLES_COLUMNS)}
        for row_num, cells in enumerate(reader, start=2):
            if not cells:
                continue
            if len(cells) > len(STYLES_COLUMNS):
                cells = cells[:9] + [','.join(cells[9:])]  # commas inside productDisplayName
                stats['repaired_extra_commas'] += 1
            if len(cells) < len(STYLES_COLUMNS):
                stats['skipped_too_few_fields'] += 1
                _logger.warning(f'{path}: row {row_num}: {len(cells)} fields, expected {len(STYLES_COLUMNS)}: skipped')
                continue
            pid = cells[idx['id']].strip()
            if not pid:
                stats['skipped_empty_id'] += 1
                continue
            image = f'images/{pid}.jpg'
            if images_dir is not None and not os.path.isfile(os.path.join(images_dir, f'{pid}.jpg')):
                stats['skipped_missing_image'] += 1
                continue
            rows.append([image] + [cells[idx[h]].strip() or NA for h in STYLES_HEADS])
    stats['kept'] = len(rows)
    return rows, dict(stats)


def fold_rare(rows: List[List[str]], heads, min_count: int, rare: str = 'fold'):
    """Fold (into 'Other') or drop (to #N/A) values seen fewer than min_count times; returns rows and a report."""
    report = {}
    for h in range(1, len(heads) + 1):
        counts = Counter(r[h] for r in rows if r[h] != NA)
        rare_values = sorted(v for v, n in counts.items() if n < min_count)
        report[heads[h - 1]] = {v: counts[v] for v in rare_values}
        for r in rows:
            if r[h] in rare_values:
                r[h] = 'Other' if rare == 'fold' else NA
    return rows, report


def convert_products(src: str, out: str, images_dir: Optional[str] = None, min_count: int = 1,
                     rare: str = 'fold') -> Dict:
    """styles.csv or image_path,gender,article,color CSV -> attribute CSV at `out`; returns the report."""
    with open(src, newline='', encoding='utf-8') as f:
        header = [h.strip() for h in next(csv.reader(f))]
    if header[:1] == ['id']:
        rows, stats = read_styles(src, images_dir)
        heads = list(STYLES_HEADS)
    else:
        with open(src, newline='', encoding='utf-8') as f:
            reader = csv.reader(f)
            header = next(reader)
            rows, stats = [], Counter()
            for row_num, cells in enumerate(reader, start=2):
                if len(cells) != len(header):
                    stats['skipped_wrong_field_count'] += 1
                    _logger.warning(f'{src}: row {row_num}: {len(cells)} fields, expected {len(header)}: skipped')
                    continue
                rows.append([c.strip() or NA for c in cells])
            stats['kept'] = len(rows)
        heads = header[1:]
    rows, folded = fold_rare(rows, heads, min_count, rare)
    with open(out, 'w', newline='') as f:
        w = csv.writer(f)
        w.writerow(['image_path'] + heads)
        w.writerows(rows)
    return dict(stats=dict(stats), rare=folded)


def main():
    logging.basicConfig(level=logging.INFO)
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('source', help='styles.csv or an image_path,gender,article,color CSV')
    parser.add_argument('--out', required=True)
    parser.add_argument('--images', default=None, help='folder of <id>.jpg: rows without an image are skipped')
    parser.add_argument('--min-count', type=int, default=1)
    parser.add_argument('--rare', choices=('fold', 'drop'), default='fold')
    args = parser.parse_args()
    report = convert_products(args.source, args.out, args.images, args.min_count, args.rare)
    print(f'wrote {args.out}: {report["stats"]}')
    for head, values in report['rare'].items():
        if values:
            print(f'  {head}: {len(values)} rare classes {"folded into Other" if args.rare == "fold" else "dropped"}:'
                  f' {values}')


if __name__ == '__main__':
    main()
