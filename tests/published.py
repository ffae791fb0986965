""" Tiny datasets in the file names and encodings their publishers ship (CelebA, NIH ChestX-ray14, Planet, NUS-WIDE,
Visual Genome, a Hugging Face hub parquet folder, a CheXpert-style clinical CSV), each returning its truth: the classes
and, per split, the (image, dense target row) the reader must give. The quirks are the published ones (count lines,
trailing spaces and commas, bracketed header names, names without extensions, backslash paths, plural object names)."""
import json
import os

import numpy as np
from PIL import Image


def _image(path, value, ext='.jpg'):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(np.full((16, 16, 3), value % 256, np.uint8)).save(path)


def celeba(root, n=40, attrs=('5_o_Clock_Shadow', 'Bald', 'Smiling', 'Young')):
    """torchvision's CelebA root: a count line, the names line with a trailing space, right-aligned 1 / -1 values."""
    folder = os.path.join(root, 'celeba')
    rng = np.random.default_rng(0)
    values = rng.integers(0, 2, (n, len(attrs))).astype(np.int8)
    values[0], values[1] = 1, 0  # every attribute present and absent somewhere
    partition = [0] * (n - 16) + [1] * 8 + [2] * 8
    lines = [str(n), ' '.join(attrs) + ' ']
    for i in range(n):
        name = f'{i + 1:06d}.jpg'
        _image(os.path.join(folder, 'img_align_celeba', name), i)
        lines.append(name + ''.join(f' {1 if v else -1:>2}' for v in values[i]))
    with open(os.path.join(folder, 'list_attr_celeba.txt'), 'w') as f:
        f.write('\n'.join(lines) + '\n')
    with open(os.path.join(folder, 'list_eval_partition.txt'), 'w') as f:
        f.write(''.join(f'{i + 1:06d}.jpg {p}\n' for i, p in enumerate(partition)))
    with open(os.path.join(folder, 'identity_CelebA.txt'), 'w') as f:
        f.write(''.join(f'{i + 1:06d}.jpg {i % 7}\n' for i in range(n)))
    split_rows = {s: [i for i, p in enumerate(partition) if p == k] for s, k in (('train', 0), ('validation', 1),
                                                                                 ('test', 2))}
    return root, list(attrs), {s: values[rows] for s, rows in split_rows.items()}


CHEST_FINDINGS = ['Atelectasis', 'Cardiomegaly', 'Consolidation', 'Edema', 'Effusion', 'Emphysema', 'Fibrosis',
                  'Hernia', 'Infiltration', 'Mass', 'Nodule', 'Pleural_Thickening', 'Pneumonia', 'Pneumothorax']


def chestxray14(root, patients=30, per_patient=2, trailing_comma=True, kaggle=True):
    """Data_Entry_2017.csv (unquoted bracketed header names, a trailing comma on every line, `No Finding`, a finding
    list out of alphabetical order), the official lists, Kaggle's images_001/images/ ... folders."""
    rng = np.random.default_rng(1)
    header = ('Image Index,Finding Labels,Follow-up #,Patient ID,Patient Age,Patient Gender,View Position,'
              'OriginalImage[Width,Height],OriginalImagePixelSpacing[x,y]')
    lines, truth, test = [header + (',' if trailing_comma else '')], {}, []
    for p in range(1, patients + 1):
        for k in range(per_patient):
            name = f'{p:08d}_{k:03d}.png'
            row = np.zeros(14, np.int8)
            if rng.random() < 0.6:
                row[rng.choice(14, size=int(rng.integers(1, 3)), replace=False)] = 1
            found = [CHEST_FINDINGS[i] for i in np.flatnonzero(row)][::-1]  # reverse: not alphabetical
            lines.append(f'{name},{"|".join(found) or "No Finding"},{k},{p},{40 + p},{"MF"[p % 2]},PA,2500,2048,'
                         f'0.143,0.143' + (',' if trailing_comma else ''))
            truth[name] = row
            folder = f'images_{1 + p % 3:03d}/images' if kaggle else 'images'
            Image.fromarray(np.full((16, 16), p, np.uint8)).save(_mk(os.path.join(root, folder, name)))
            if p > patients - 6:
                test.append(name)
    with open(os.path.join(root, 'Data_Entry_2017.csv'), 'w') as f:
        f.write('\n'.join(lines) + '\n')
    with open(os.path.join(root, 'test_list.txt'), 'w') as f:
        f.write('\n'.join(test) + '\n')
    with open(os.path.join(root, 'train_val_list.txt'), 'w') as f:
        f.write('\n'.join(n for n in truth if n not in test) + '\n')
    return root, CHEST_FINDINGS, truth, test


def _mk(path):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    return path


def planet(root, n=60):
    """train_v2.csv with names without extension and space-separated tags, train-jpg/, and a sample submission whose
    every row carries the same placeholder tags."""
    tags = ['agriculture', 'artisinal_mine', 'clear', 'cloudy', 'haze', 'primary', 'road', 'water']
    rng = np.random.default_rng(2)
    lines, truth = ['image_name,tags'], {}
    for i in range(n):
        chosen = [tags[2 + i % 3]] + [t for t in tags if t not in ('clear', 'cloudy', 'haze') and rng.random() < 0.3]
        lines.append(f'train_{i},{" ".join(chosen)}')
        truth[f'train-jpg/train_{i}.jpg'] = sorted(set(chosen))
        _image(os.path.join(root, 'train-jpg', f'train_{i}.jpg'), i)
    with open(os.path.join(root, 'train_v2.csv'), 'w') as f:
        f.write('\n'.join(lines) + '\n')
    with open(os.path.join(root, 'sample_submission_v2.csv'), 'w') as f:
        f.write('image_name,tags\n' + ''.join(f'test_{i},primary clear agriculture road water\n' for i in range(40)))
    os.makedirs(os.path.join(root, 'test-jpg'), exist_ok=True)
    return root, sorted({t for v in truth.values() for t in v}), truth


def nuswide(root, train=40, test=12, concepts=('animal', 'beach', 'clouds', 'sky', 'water')):
    """ImageList with backslash paths, Groundtruth/TrainTestLabels one 0 / 1 file per concept and split, Concepts81."""
    rng = np.random.default_rng(3)
    truth = {}
    for part, n in (('Train', train), ('Test', test)):
        names = [f'actor\\{i:04d}_{1000 + i + (0 if part == "Train" else 5000)}.jpg' for i in range(n)]
        values = rng.integers(0, 2, (n, len(concepts))).astype(np.int8)
        values[0] = 1
        values[1] = 0
        with open(_mk(os.path.join(root, 'ImageList', f'{part}Imagelist.txt')), 'w') as f:
            f.write('\r\n'.join(names) + '\r\n')
        for k, c in enumerate(concepts):
            with open(_mk(os.path.join(root, 'Groundtruth', 'TrainTestLabels', f'Labels_{c}_{part}.txt')), 'w') as f:
                f.write(''.join(f'{v}\n' for v in values[:, k]))
        for name, row in zip(names, values):
            path = 'Flickr/' + name.replace('\\', '/')
            _image(os.path.join(root, path), len(truth))
            truth[path] = (part, row)
    with open(_mk(os.path.join(root, 'ConceptsList', 'Concepts81.txt')), 'w') as f:
        f.write('\n'.join(concepts) + '\n')
    return root, list(concepts), truth


def visual_genome(root, n=48):
    """objects.json with raw crowd names (case, spaces, plurals), image_data.json with urls naming VG_100K or
    VG_100K_2."""
    rng = np.random.default_rng(4)
    pool = ['tree', 'Trees', 'man', ' man ', 'shirt', 'sky', 'window', 'building', 'car']
    objects, images, truth = [], [], {}
    for i in range(1, n + 1):
        folder = 'VG_100K_2' if i % 4 == 0 else 'VG_100K'
        names = [pool[j] for j in rng.choice(len(pool), size=int(rng.integers(1, 5)), replace=False)]
        objects.append(dict(image_id=i, objects=[dict(object_id=i * 10 + k, names=[nm], synsets=[], x=0, y=0, w=1, h=1)
                                                 for k, nm in enumerate(names)]))
        images.append(dict(image_id=i, url=f'https://cs.stanford.edu/people/rak248/{folder}/{i}.jpg', width=16,
                           height=16, coco_id=None, flickr_id=None))
        _image(os.path.join(root, folder, f'{i}.jpg'), i)
        truth[f'{folder}/{i}.jpg'] = {' '.join(nm.lower().split()) for nm in names}
    with open(os.path.join(root, 'objects.json'), 'w') as f:
        json.dump(objects, f)
    with open(os.path.join(root, 'image_data.json'), 'w') as f:
        json.dump(images, f)
    return root, truth


def hf_parquet(root, classes=('cat', 'dog', 'person')):
    """The hub layout: data/train-00000-of-00001.parquet and data/validation-..., Image + Sequence(ClassLabel)."""
    import datasets
    rng = np.random.default_rng(5)
    truth = {}
    for split, n in (('train', 32), ('validation', 12)):
        labels = [sorted(set(int(c) for c in rng.choice(len(classes), size=int(rng.integers(1, 3)))))
                  for _ in range(n)]
        labels[0], labels[1] = [0, 1, 2], []
        images = [Image.fromarray(np.full((16, 16, 3), (split == 'train') * 100 + i, np.uint8)) for i in range(n)]
        ds = datasets.Dataset.from_dict(dict(image=images, labels=labels), features=datasets.Features(dict(
            image=datasets.Image(), labels=datasets.Sequence(datasets.ClassLabel(names=list(classes))))))
        ds.to_parquet(_mk(os.path.join(root, 'data', f'{split}-00000-of-00001.parquet')))
        truth[split] = labels
    return root, list(classes), truth


CLINICAL_FINDINGS = ['No Finding', 'Cardiomegaly', 'Edema', 'Pleural Effusion']


def clinical_csv(parent, n=40):
    """CheXpert-v1.0-small/ with train.csv / valid.csv: Path, Sex, Age, Frontal/Lateral, AP/PA, then findings valued
    1.0 / 0.0 / -1.0 (uncertain) / blank (not mentioned); the paths start with the dataset folder's own name. The truth
    holds each path's raw finding cells."""
    root = os.path.join(parent, 'CheXpert-v1.0-small')
    rng = np.random.default_rng(6)
    header = 'Path,Sex,Age,Frontal/Lateral,AP/PA,' + ','.join(CLINICAL_FINDINGS)
    truth = {}
    for split, count in (('train', n), ('valid', 16)):
        lines = [header]
        for i in range(count):
            path = f'CheXpert-v1.0-small/{split}/patient{i:05d}/study1/view1_frontal.jpg'
            cells = rng.choice(['1.0', '0.0', '-1.0', ''], size=len(CLINICAL_FINDINGS), p=[0.3, 0.3, 0.15, 0.25])
            if i == 0:
                cells[:] = '1.0'
            if i == 1:
                cells[:] = '0.0'
            lines.append(f'{path},{"Female" if i % 2 else "Male"},{20 + 2 * i},Frontal,{"AP" if i % 3 else "PA"},'
                         + ','.join(cells))
            truth[path] = list(cells)
            _image(os.path.join(parent, path), i)
        with open(_mk(os.path.join(root, f'{split}.csv')), 'w') as f:
            f.write('\n'.join(lines) + '\n')
    return root, CLINICAL_FINDINGS, truth


def deepfashion(root, n=30, attrs=('a-line', 'abstract chevron', 'floral', 'v-neck')):
    """DeepFashion's attribute benchmark: count and header lines, space-padded names holding spaces, 1 / -1 / 0."""
    rng = np.random.default_rng(3)
    values = rng.choice([1, -1, 0], size=(n, len(attrs)), p=[0.3, 0.5, 0.2])
    values[0], values[1] = 1, -1
    paths = [f'img/Print_Dress_{i % 3}/img_{i + 1:08d}.jpg' for i in range(n)]
    status = ['train'] * (n - 12) + ['val'] * 6 + ['test'] * 6
    for i, p in enumerate(paths):
        _image(os.path.join(root, p), i)
    with open(_mk(os.path.join(root, 'Anno', 'list_attr_cloth.txt')), 'w') as f:
        f.write(f'{len(attrs)}\nattribute_name  attribute_type\n' + ''.join(f'{a:<30}{1 + k % 5}\n'
                                                                         for k, a in enumerate(attrs)))
    with open(os.path.join(root, 'Anno', 'list_attr_img.txt'), 'w') as f:
        f.write(f'{n}\nimage_name  attribute_labels\n' + ''.join(
            f'{p:<45}' + ' '.join(f'{v:2d}' for v in values[i]) + '\n' for i, p in enumerate(paths)))
    with open(_mk(os.path.join(root, 'Eval', 'list_eval_partition.txt')), 'w') as f:
        f.write(f'{n}\nimage_name  evaluation_status\n' + ''.join(f'{p:<45}{s}\n' for p, s in zip(paths, status)))
    dense = np.select([values == 1, values == -1], [1, 0], -1)
    rows = {s: [i for i, t in enumerate(status) if t == k] for s, k in (('train', 'train'), ('validation', 'val'),
                                                                        ('test', 'test'))}
    return root, list(attrs), {s: dense[r] for s, r in rows.items()}


def image_folder(root, classes=('bird', 'cat', 'dog'), per_class=(6, 3)):
    """timm's ImageFolder layout: train/<class>/*.jpg, val/<class>/*.jpg; truth = each split's class indices."""
    truth = {}
    for split, n in zip(('train', 'val'), per_class):
        truth[split] = []
        for k, c in enumerate(classes):
            for i in range(n):
                _image(os.path.join(root, split, c, f'{c}_{i}.jpg'), 10 * k + i)
                truth[split].append(k)
    return root, list(classes), truth


def kaggle_ids(root, n=30, classes=('healthy', 'rust', 'scab')):
    """A Kaggle competition root: train.csv with image ids without extension and 0 / 1 columns, images/<id>.jpg, a
    test.csv of ids and a sample_submission.csv whose rows all carry the same placeholder."""
    rng = np.random.default_rng(5)
    values = rng.integers(0, 2, (n, len(classes)))
    values[0], values[1] = 1, 0
    ids = [f'Train_{i}' for i in range(n)]
    for i, name in enumerate(ids):
        _image(os.path.join(root, 'images', name + '.jpg'), i)
    with open(_mk(os.path.join(root, 'train.csv')), 'w') as f:
        f.write('image_id,' + ','.join(classes) + '\n' + ''.join(
            f'{name},' + ','.join(map(str, v)) + '\n' for name, v in zip(ids, values)))
    with open(os.path.join(root, 'test.csv'), 'w') as f:
        f.write('image_id\n' + ''.join(f'Test_{i}\n' for i in range(5)))
    with open(os.path.join(root, 'sample_submission.csv'), 'w') as f:
        f.write('image_id,' + ','.join(classes) + '\n' + ''.join(f'Test_{i},1,0,0\n' for i in range(5)))
    return root, list(classes), dict(zip([n + '.jpg' for n in ids], values.tolist()))
