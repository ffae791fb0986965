""" How far train.py / validate.py are from timm's: lines shared, added, removed and hunks (difflib over lines).

    git clone https://github.com/huggingface/pytorch-image-models /tmp/timm-repo
    python bench/timm_diff.py --timm-repo /tmp/timm-repo [--commit aa4b5850]

Args:
    --timm-repo: A clone of huggingface/pytorch-image-models (its files are read with `git show`, never copied here).
    --commit: The commit the scripts are diffed against (docs/architecture.md names it).
"""
import argparse
import difflib
import os
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def diff_counts(timm_lines, our_lines):
    """(shared, added, removed, hunks): shared = lines of timm's file kept in order in ours."""
    matcher = difflib.SequenceMatcher(None, timm_lines, our_lines, autojunk=False)
    shared = sum(block.size for block in matcher.get_matching_blocks())
    added = removed = hunks = 0
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag != 'equal':
            hunks += 1
            removed += i2 - i1
            added += j2 - j1
    return shared, added, removed, hunks


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--timm-repo', required=True)
    parser.add_argument('--commit', default='aa4b5850')
    args = parser.parse_args()
    print('| script | timm\'s lines | shared | added | removed | hunks |')
    print('|---|---|---|---|---|---|')
    for script in ('train.py', 'validate.py'):
        theirs = subprocess.run(['git', '-C', args.timm_repo, 'show', f'{args.commit}:{script}'], check=True,
                                capture_output=True, text=True).stdout.splitlines()
        with open(os.path.join(ROOT, script)) as f:
            ours = f.read().splitlines()
        shared, added, removed, hunks = diff_counts(theirs, ours)
        print(f'| {script} | {len(theirs)} | {shared} ({100 * shared / len(theirs):.1f}%) | {added} | {removed} | '
              f'{hunks} |')


if __name__ == '__main__':
    main()
