""" The label-reading flags, defined once for every command that reads labels (train.py, validate.py, to_shards,
the feature cache): one flag per LABEL_OPTIONS field, so a new option reaches every command at once."""
from .readers import label_formats

UNCERTAIN_POLICIES = ('ignore', 'positive', 'negative')


def add_label_args(group, default: str = 'recognised from the files'):
    """ Add the label-reading flags (all default None: not given) to an argparse parser or group.

    Args:
        group: The parser or argument group.
        default: How a flag not given is decided, for the help texts ('recognised from the files', or 'the
            training run's' for commands reading a checkpoint's data).
    """
    group.add_argument('--label-format', default=None, choices=label_formats(),
                       help=f'label layout (default: {default}; the log names it)')
    group.add_argument('--label-delimiter', default=None, type=str,
                       help=f'separator inside a label-list cell (default: {default}; ambiguity is an error)')
    group.add_argument('--unknown-values', default=None, nargs='+', metavar='VALUE',
                       help='more cell spellings meaning "not annotated", besides #N/A, empty and NaN')
    group.add_argument('--image-dir', default=None, type=str, metavar='DIR',
                       help='folder the image paths are relative to (default: beside the label file, or an images/ '
                            'folder there)')
    group.add_argument('--path-column', default=None, type=str, help=f'CSV column with image paths (default: {default})')
    group.add_argument('--labels-column', default=None, type=str,
                       help=f'CSV column with label lists (default: {default})')
    group.add_argument('--attribute-columns', default=None, nargs='+', metavar='COLUMN',
                       help='attribute CSV / styles.csv: the columns to read as attributes (default: all / '
                            'gender articleType baseColour)')
    group.add_argument('--tree-columns', default=None, nargs='+', metavar='COLUMN',
                       help='attribute CSV / styles.csv: columns forming a label tree, top level first (e.g. '
                            'masterCategory subCategory articleType); with --labels-column a label-list column adds '
                            'free tags')
    group.add_argument('--split-seed', type=int, default=None,
                       help='seed of the split of a layout without split files (default: 0)')
    group.add_argument('--split-fractions', type=float, nargs=3, default=None, metavar=('TRAIN', 'VAL', 'TEST'),
                       help='shares of that split (default: 0.7 0.15 0.15)')
    group.add_argument('--value-map', default=None, type=str, metavar='MAP',
                       help="what value-coded label cells mean, e.g. '1=pos,-1=neg' (CelebA) or '1=pos,0=neg,-1=unc,"
                            "blank=unk' (default: the format's declared meanings, printed in the data card)")
    group.add_argument('--uncertain', default=None, choices=UNCERTAIN_POLICIES,
                       help='how uncertain cells (-1.0 of CheXpert-style CSVs) are read: ignore = unknown (default), '
                            'positive (U-Ones) or negative (U-Zeros)')
    group.add_argument('--top-classes', default=None, type=int, metavar='N',
                       help='Visual Genome: the N most frequent object names are the classes (default: 500, "VG500")')
    group.add_argument('--allow-outside-root', action='store_true', default=None,
                       help='image paths of a label file may be absolute, climb above its folder or link out of it '
                            '(default: refused, so a label file from someone else cannot make the tools read any '
                            'file of this machine; never taken from a checkpoint)')
    return group
