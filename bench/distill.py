""" Multi-label distillation on a real set (emoji, pretrained Lite models, the fair protocol: lr searched per row,
chosen on val, test reported).

    python bench/distill.py                 # both tables, 2-core CPU preset (64 px, 4 epochs)
    python bench/distill.py --part partial  # one of them: compression | partial

(a) compression: a tf_efficientnet_lite2 teacher (trained here by the same recipe at --teacher-lr, the fair table's
    choice for BCE + linear) into a tf_efficientnet_lite0 student, with and without `--kd-checkpoint`, same budget.
(b) partial labels: with 50% and 90% of the training annotations hidden (--simulate-partial rps:P, seeded): masked
    BCE ignoring the unknowns, CSL selective, and one self-training round: the ignore run's best checkpoint as the
    teacher filling the unknowns (--fill-unknown teacher, the teacher trained on the same partial labels).
Finished runs are reused when their command is unchanged (bench/_bench.py). Prints markdown tables.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _bench import ROOT, recipe, run  # noqa: E402
from real_data import ensure_sets  # noqa: E402

DATA = os.path.join(ROOT, 'data', 'emoji')
OUT = os.path.join(ROOT, 'output', 'bench_distill')


def search(name, flags, lrs, img_size, epochs, model='tf_efficientnet_lite0', seed=0):
    """The row's runs over the lr grid; the one with the best val mAP (its model_best epoch), with its test mAP."""
    best = None
    for lr in lrs:
        out = os.path.join(OUT, name, f'lr{lr:g}-s{seed}')
        result = run(DATA, recipe(img_size, epochs, lr, 0, seed, ['-j', '2'], model=model) + flags, out)
        val = result['summary'].eval_map.max()
        print(f'  {name} lr {lr:g}: val {val:.2f} test {result["test"]["map"]:.2f}', flush=True)
        if best is None or val > best[1]:
            best = (lr, val, result['test']['map'], os.path.join(out, 'model_best.pth.tar'))
    return best


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--part', choices=('compression', 'partial', 'both'), default='both')
    parser.add_argument('--img-size', type=int, default=64)
    parser.add_argument('--epochs', type=int, default=4)
    parser.add_argument('--lrs', type=float, nargs='+', default=[1e-3, 3e-3])
    parser.add_argument('--rps', type=float, nargs='+', default=[0.5, 0.9])
    parser.add_argument('--teacher-lr', type=float, default=3e-3, help='the Lite2 teacher\'s lr (not searched)')
    args = parser.parse_args()
    ensure_sets(['emoji'])
    common = dict(lrs=args.lrs, img_size=args.img_size, epochs=args.epochs)
    if args.part in ('compression', 'both'):
        teacher = search('teacher-lite2', [], model='tf_efficientnet_lite2',
                         **dict(common, lrs=[args.teacher_lr]))  # the fair table's BCE-linear choice
        plain = search('student-lite0', [], **common)
        kd = search('student-lite0-kd', ['--kd-checkpoint', teacher[3]], **common)
        print('\n| model | chosen lr | val mAP | test mAP |\n|---|---|---|---|')
        for name, r in (('teacher: Lite2', teacher), ('student: Lite0', plain),
                        ('student: Lite0 + distillation from the Lite2 teacher', kd)):
            print(f'| {name} | {r[0]:g} | {r[1]:.2f} | {r[2]:.2f} |')
    if args.part in ('partial', 'both'):
        rows = []
        for p in args.rps:
            hide = ['--simulate-partial', f'rps:{p:g}']
            ignore = search(f'ignore-rps{p:g}', hide, **common)
            csl = search(f'csl-selective-rps{p:g}', hide + ['--loss', 'csl', '--partial-loss-mode', 'selective'],
                         **common)
            filled = search(f'teacher-filled-rps{p:g}', hide + ['--kd-checkpoint', ignore[3], '--fill-unknown',
                                                                'teacher', '--distill-loss-weight', '0'], **common)
            rows.append((p, ignore, csl, filled))
        print('\n| hidden (RPS) | ignore (masked BCE): val / test | CSL selective: val / test | teacher-filled '
              '(one round): val / test |\n|---|---|---|---|')
        for p, *rs in rows:
            print(f'| {p:g} | ' + ' | '.join(f'{r[1]:.2f} / {r[2]:.2f} (lr {r[0]:g})' for r in rs) + ' |')


if __name__ == '__main__':
    main()
