""" Which head and loss for my data, on a feature cache (python -m timm_ml.features):

    python -m timm_ml.features.search cache/lite0-224 --out output/search [--rows bce-linear aam-cosine mldecoder]
        [--lrs 3e-4 1e-3 3e-3] [--epochs 30] [--patience 3] [--seeds 0 1] [--shared '-b 128 --opt adamw ...']

Every row trains through train.py --features over the same lr grid until val mAP stops improving, is chosen on val,
and only the chosen runs are scored on test; the top rows get more seeds. Writes search.csv, table.md and table.png.
A row is a name of the built-in rows or name="--ml-head ... --loss ...".
"""
import argparse
import shlex

from timm_ml.cli.errors import UserError, run_cli

from . import ROWS, SearchError, SearchSpec, run_search, table_markdown


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('cache', help='the feature cache')
    parser.add_argument('--out', required=True, help='the search folder (finished runs are reused)')
    parser.add_argument('--rows', nargs='+', default=list(SearchSpec.rows), help=f'built in: {", ".join(ROWS)}')
    parser.add_argument('--lrs', nargs='+', type=float, default=list(SearchSpec.lrs))
    parser.add_argument('--epochs', type=int, default=SearchSpec.epochs)
    parser.add_argument('--patience', type=int, default=SearchSpec.patience)
    parser.add_argument('--seeds', nargs='+', type=int, default=list(SearchSpec.seeds))
    parser.add_argument('--top', type=int, default=SearchSpec.top, help='rows rerun with the other seeds')
    parser.add_argument('--val-split', default='validation')
    parser.add_argument('--test-split', default='test')
    parser.add_argument('--shared', default=' '.join(SearchSpec.extra),
                        help=f'train.py flags every run shares (default: {" ".join(SearchSpec.extra)})')
    args = parser.parse_args()
    try:
        extra = shlex.split(args.shared)
    except ValueError as e:
        parser.error(f'--shared {args.shared!r}: {e}')
    if not args.lrs or not all(0 < lr < float('inf') for lr in args.lrs) or args.epochs < 1 or not args.seeds:
        parser.error('--lrs: positive finite values; --epochs at least 1; --seeds at least one')
    spec = SearchSpec(cache=args.cache, out=args.out, rows=args.rows, lrs=args.lrs, epochs=args.epochs,
                      patience=args.patience, seeds=args.seeds, top=args.top, extra=extra,
                      val_split=args.val_split, test_split=args.test_split)
    try:
        table = run_search(spec)
    except SearchError as e:
        raise UserError(str(e)) from None
    print(table_markdown(table, spec))


if __name__ == '__main__':
    run_cli(main)
