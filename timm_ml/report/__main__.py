""" The error-analysis page of a checkpoint on a split:

    python -m timm_ml.report [<data>] --checkpoint CK [--split val] --out report/ [validate.py options]

is `validate.py ... --report report/`: the same evaluation, the page beside validate.py's numbers (open
report/index.html in any browser; it is static and loads nothing from the network).
"""
import sys

from timm_ml.entry_points import _run


USAGE = ('usage: python -m timm_ml.report [<data>] --checkpoint CK [--split S] --out DIR [validate.py options]\n\n'
         'The error-analysis page of a checkpoint on a split: validate.py ... --report DIR (the same evaluation, the '
         'page beside validate.py\'s numbers; static, offline). Every validate.py option applies.')


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if '-h' in argv or '--help' in argv:
        print(USAGE)
        return
    if '--out' not in argv or argv.index('--out') + 1 >= len(argv):
        print(USAGE.split('\n')[0], file=sys.stderr)
        print('error: --out DIR is required', file=sys.stderr)
        sys.exit(2)
    argv[argv.index('--out')] = '--report'
    sys.argv = ['validate.py'] + argv
    _run('validate.py')


if __name__ == '__main__':
    main()
