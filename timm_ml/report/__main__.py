""" The error-analysis page of a checkpoint on a split:

    python -m timm_ml.report [<data>] --checkpoint CK [--split val] --out report/ [validate.py options]

is `validate.py ... --report report/`: the same evaluation, the page beside validate.py's numbers (open
report/index.html in any browser; it is static and loads nothing from the network).
"""
import sys

from timm_ml.entry_points import _run


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if '--out' not in argv or argv.index('--out') + 1 >= len(argv):
        sys.exit('usage: python -m timm_ml.report [<data>] --checkpoint CK [--split S] --out DIR '
                 '[validate.py options]\nerror: --out DIR is required')
    argv[argv.index('--out')] = '--report'
    sys.argv = ['validate.py'] + argv
    _run('validate.py')


if __name__ == '__main__':
    main()
