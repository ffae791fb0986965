""" Published label layouts (COCO, Pascal VOC, OpenImages, Datumaro), automatic format recognition, image folders, and
the label files that used to be misread silently. Fixtures are written by the tests, small and exact."""
import json
import logging
import os

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from tests.helpers import dense, read, run_script
from tests.helpers import png as _png
from timm_ml.data import LabelFileError, read_class_list


def make_coco(root, split='train', n=6):
    images = [{'id': 100 + i, 'file_name': f'{i:03d}.png', 'width': 16, 'height': 16} for i in range(n)]
    categories = [{'id': 7, 'name': 'zebra'}, {'id': 1, 'name': 'person'}, {'id': 3, 'name': 'car'}]
    annotations = [{'id': 1, 'image_id': 100, 'category_id': 1}, {'id': 2, 'image_id': 100, 'category_id': 1},
                   {'id': 3, 'image_id': 100, 'category_id': 7}, {'id': 4, 'image_id': 101, 'category_id': 3}]
    annotations += [{'id': 10 + i, 'image_id': 100 + i, 'category_id': [1, 3, 7][i % 3]} for i in range(3, n)]
    os.makedirs(os.path.join(root, 'annotations'), exist_ok=True)
    with open(os.path.join(root, 'annotations', f'instances_{split}.json'), 'w') as f:
        json.dump({'info': {}, 'licenses': [], 'images': images, 'annotations': annotations,
                   'categories': categories}, f)
    for i in range(n):
        _png(os.path.join(root, split, f'{i:03d}.png'), (40 * i) % 256)


def test_coco_classes_in_id_order_and_unannotated_images_negative(tmp_path):
    make_coco(str(tmp_path))
    ls = read(str(tmp_path), 'train')
    assert ls.format == 'coco' and ls.classes == ['person', 'car', 'zebra']  # category ids 1, 3, 7
    assert dense(ls)[:3] == [[1, 0, 1], [0, 1, 0], [0, 0, 0]]  # image 102 has no annotation
    assert ls.root == os.path.join(str(tmp_path), 'train') and os.path.isfile(os.path.join(ls.root, ls.paths[0]))


VOC_XML = '<annotation><filename>{id}.jpg</filename>{objects}</annotation>'
VOC_OBJ = '<object><name>{name}</name><difficult>{difficult}</difficult></object>'


def make_voc(root, ids_objects, split='train'):
    os.makedirs(os.path.join(root, 'Annotations'), exist_ok=True)
    os.makedirs(os.path.join(root, 'ImageSets', 'Main'), exist_ok=True)
    for image_id, objects in ids_objects.items():
        xml = VOC_XML.format(id=image_id, objects=''.join(VOC_OBJ.format(name=n, difficult=d) for n, d in objects))
        with open(os.path.join(root, 'Annotations', f'{image_id}.xml'), 'w') as f:
            f.write(xml)
        os.makedirs(os.path.join(root, 'JPEGImages'), exist_ok=True)
        pixels = np.random.default_rng(len(image_id) + sum(map(ord, image_id))).integers(0, 255, (16, 16, 3))
        Image.fromarray(pixels.astype(np.uint8)).save(os.path.join(root, 'JPEGImages', f'{image_id}.jpg'))
    with open(os.path.join(root, 'ImageSets', 'Main', f'{split}.txt'), 'w') as f:
        f.write('\n'.join(ids_objects) + '\n')


def test_voc_difficult_only_objects_are_unknown(tmp_path):
    make_voc(str(tmp_path), {
        '2008_000001': [('dog', 0), ('cat', 1)],              # cat only difficult: unknown
        '2008_000002': [('cat', 1), ('cat', 0), ('bird', 0)],  # one easy cat: positive
        '2008_000003': [('bird', 1)],
    })
    ls = read(str(tmp_path), 'train')
    assert ls.format == 'voc' and ls.classes == ['bird', 'cat', 'dog']
    assert dense(ls) == [[0, -1, 1], [1, 1, 0], [-1, 0, 0]]
    assert ls.paths[0] == 'JPEGImages/2008_000001.jpg'


def test_voc_image_is_the_id_not_the_xml_filename_and_ids_are_unique(tmp_path):
    make_voc(str(tmp_path), {'a': [('cat', 0)], 'b': [('dog', 0)]})
    with open(tmp_path / 'Annotations' / 'b.xml', 'w') as f:  # a copied annotation file keeps a's <filename>
        f.write(VOC_XML.format(id='a', objects=VOC_OBJ.format(name='dog', difficult=0)))
    ls = read(str(tmp_path), 'train')
    assert ls.paths == ['JPEGImages/a.jpg', 'JPEGImages/b.jpg'] and dense(ls) == [[1, 0], [0, 1]]
    with open(tmp_path / 'ImageSets' / 'Main' / 'train.txt', 'a') as f:
        f.write('a\n')
    with pytest.raises(LabelFileError, match=r"train\.txt: row 3: duplicate image id 'a' \(first at row 1\)"):
        read(str(tmp_path), 'train')


def test_voc_image_saved_under_another_extension_is_found_by_its_id(tmp_path, caplog):
    make_voc(str(tmp_path), {'a': [('cat', 0)], 'b': [('dog', 0)]})
    jpeg = tmp_path / 'JPEGImages'
    Image.open(jpeg / 'b.jpg').save(jpeg / 'b.png')  # a VOC-style set saved as PNG, the XML still says b.jpg
    os.remove(jpeg / 'b.jpg')
    with open(tmp_path / 'Annotations' / 'a.xml', 'w') as f:  # and a copied XML naming b's PNG must not move a
        f.write(VOC_XML.format(id='b', objects=VOC_OBJ.format(name='cat', difficult=0)).replace('b.jpg', 'b.png'))
    with caplog.at_level(logging.WARNING):
        ls = read(str(tmp_path), 'train')
    assert ls.paths == ['JPEGImages/a.jpg', 'JPEGImages/b.png'] and dense(ls) == [[1, 0], [0, 1]]
    # the copied XML is read by its id, and said (its labels may be another image's)
    assert '1 annotation files name another image in <filename>' in caplog.text and 'a.xml names b.png' in caplog.text


def test_coco_annotation_of_no_image_is_named(tmp_path):
    make_coco(str(tmp_path))
    path = tmp_path / 'annotations' / 'instances_train.json'
    data = json.loads(path.read_text())
    data['annotations'].append({'id': 99, 'image_id': '101', 'category_id': 1})  # a string id: no such image
    path.write_text(json.dumps(data))
    with pytest.raises(LabelFileError, match=r"annotation 7 \(id 99\) has image_id '101', which no image"):
        read(str(tmp_path), 'train')


def test_datumaro_ignored_labels_must_be_label_indices(tmp_path):
    labels = ['cat', 'dog']
    for ignored, shown in ((['dog'], "'dog'"), ([5], '5')):
        make_datumaro(str(tmp_path), [(n, 'exclusive', [n]) for n in labels], labels, [([0], ignored), ([1], [])])
        with pytest.raises(LabelFileError, match=rf'row 0: ignored_labels entry {shown} is not a label index \(0\.\.1\)'):
            read(str(tmp_path), 'train')


def make_openimages(root, split='train'):
    with open(os.path.join(root, 'oidv6-class-descriptions.csv'), 'w') as f:
        f.write('LabelName,DisplayName\n/m/01,Cat\n/m/02,Dog\n/m/03,Bat\n/m/04,Bat\n/m/05,Unused\n')
    rows = [('img1', '/m/02', 1), ('img1', '/m/01', 0), ('img2', '/m/03', 1), ('img2', '/m/04', 0),
            ('img3', '/m/01', 1), ('img1', '/m/02', 0), ('img3', '/m/01', 1)]  # img1 Dog: both 1 and 0
    frame = pd.DataFrame(rows, columns=['ImageID', 'LabelName', 'Confidence'])
    frame.insert(1, 'Source', 'verification')
    frame.to_csv(os.path.join(root, f'{split}-annotations-human-imagelabels.csv'), index=False)


def test_openimages_verified_negatives_and_unknowns(tmp_path, caplog):
    make_openimages(str(tmp_path))
    with caplog.at_level('WARNING'):
        ls = read(str(tmp_path), 'train')
    assert ls.format == 'openimages'
    assert ls.classes == ['Cat', 'Dog', 'Bat (/m/03)', 'Bat (/m/04)']  # shared display names made unique
    assert ls.paths == ['train/img1.jpg', 'train/img2.jpg', 'train/img3.jpg']
    # img1 Dog listed as positive and as verified negative: unknown, counted; a repeated agreeing row is one entry
    assert dense(ls) == [[0, -1, -1, -1], [-1, -1, 1, 0], [1, -1, -1, -1]]
    assert '1 (image, class) pairs listed with both Confidence 1 and 0 are unknown, first: img1 Dog' in caplog.text
    assert ls.targets.fill == -1  # stored around the unknown fill


def make_datumaro(root, groups, labels, items, split='train'):
    os.makedirs(os.path.join(root, 'annotations'), exist_ok=True)
    data = {'info': {}, 'categories': {'label': {
        'labels': [{'name': n, 'parent': '', 'attributes': []} for n in labels],
        'label_groups': [{'name': g, 'group_type': t, 'labels': ls} for g, t, ls in groups], 'attributes': []}},
        'items': [{'id': f'i{k}', 'annotations': [{'id': j, 'type': 'label', 'label_id': lid, 'group': 0}
                                                  for j, lid in enumerate(ids)],
                   'image': {'path': f'i{k}.png', 'size': [16, 16]}, 'attr': {'ignored_labels': ign}}
                  for k, (ids, ign) in enumerate(items)]}
    with open(os.path.join(root, 'annotations', f'{split}.json'), 'w') as f:
        json.dump(data, f)
    for k in range(len(items)):
        _png(os.path.join(root, 'images', split, f'i{k}.png'), (37 * k + len(split)) % 256)


def test_datumaro_multilabel_with_ignored_labels(tmp_path):
    labels = ['cat', 'dog', 'car']
    make_datumaro(str(tmp_path), [(n, 'exclusive', [n]) for n in labels], labels,
                  [([0, 1], []), ([2], [0]), ([], [])])
    ls = read(str(tmp_path), 'train')
    assert ls.format == 'datumaro' and ls.classes == labels and ls.schema.kind == 'multilabel'
    assert dense(ls) == [[1, 1, 0], [-1, 0, 1], [0, 0, 0]]
    assert ls.root == os.path.join(str(tmp_path), 'images', 'train')


def test_datumaro_exclusive_groups_are_attribute_heads(tmp_path):
    labels = ['round', 'v', 'long', 'short', 'sleeveless']
    make_datumaro(str(tmp_path), [('neck', 'exclusive', ['round', 'v']),
                                  ('sleeve', 'exclusive', ['long', 'short', 'sleeveless'])], labels,
                  [([0, 3], []), ([1], []), ([0, 4], [4])])
    ls = read(str(tmp_path), 'train')
    assert [g.name for g in ls.schema.groups] == ['neck', 'sleeve'] and ls.schema.kind == 'attributes'
    assert ls.classes == ['round', 'v', 'long', 'short', 'sleeveless']  # Datumaro label names, as OTX
    assert dense(ls) == [[1, 0, 0, 1, 0], [0, 1, -1, -1, -1], [1, 0, -1, -1, -1]]


def test_auto_logs_its_choice_and_explicit_format_is_obeyed(tmp_path, caplog):
    make_coco(str(tmp_path / 'coco'))
    from timm_ml.data import read_label_set
    with caplog.at_level(logging.INFO):
        read_label_set(str(tmp_path / 'coco'), 'train')
    assert ("label format coco (instances_train.json holds COCO \"images\", \"annotations\" and \"categories\"); 3 "
            "classes, first ['person', 'car', 'zebra']") in caplog.text
    with pytest.raises(LabelFileError, match=r"(?s)No labels for split .train..*annotations/instances_train.json: coco: --train-split "
                                             r"train"):
        read(str(tmp_path / 'coco'), 'train', label_format='voc')


# ---- files that were misread silently


def _csv(tmp_path, text, name='train.csv', encoding='utf-8'):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return str(path)


def test_space_separated_cells_with_spaced_class_names_are_refused(tmp_path):
    path = _csv(tmp_path, 'path,labels\na.png,Pullover Sandal\nb.png,Ankle boot\n')
    with pytest.raises(LabelFileError, match=r"column 'labels': label cells could be split more than one way.*"
                                             r"--label-delimiter.*--class-map"):
        read(path)
    (tmp_path / 'classes.txt').write_text('Pullover\nSandal\nAnkle boot\n')
    ls = read(str(tmp_path), 'train', classes=read_class_list(str(tmp_path / 'classes.txt')))
    assert dense(ls) == [[1, 1, 0], [0, 0, 1]]  # the class list decides; "Ankle boot" stays whole


def test_comma_inside_quoted_cells_splits_on_the_comma_only(tmp_path):
    ls = read(_csv(tmp_path, 'path,labels\na.png,"Pullover,Sandal"\nb.png,"Ankle boot,Bag"\nc.png,Bag\n'))
    assert ls.classes == ['Ankle boot', 'Bag', 'Pullover', 'Sandal']
    assert dense(ls) == [[0, 0, 1, 1], [1, 1, 0, 0], [0, 1, 0, 0]]


def test_two_separators_are_refused_naming_both(tmp_path):
    path = _csv(tmp_path, 'path,labels\na.png,"x,y"\nb.png,y|z\n')
    with pytest.raises(LabelFileError, match=r"',' and '\|' all occur"):
        read(path)
    assert read(path, label_delimiter='|').classes == ['x,y', 'y', 'z']


def test_bom_crlf_and_label_names_column_read_as_label_lists(tmp_path):
    text = '\ufeffpath,labels\r\na.png,"cat,dog"\r\nb.png,cat\r\n'
    ls = read(_csv(tmp_path, text))
    assert ls.format == 'csv' and dense(ls) == [[1, 1], [1, 0]]
    ls = read(_csv(tmp_path, 'image,label_names\na.png,"cat,dog"\n', name='named.csv'))
    assert ls.format == 'csv' and ls.classes == ['cat', 'dog']
    (tmp_path / 'tsv').mkdir()
    (tmp_path / 'tsv' / 'label.txt').write_bytes('\ufeffT-shirt/top\nBag\n'.encode())
    (tmp_path / 'tsv' / 'train.tsv').write_text('a.png\tT-shirt/top,Bag\n')
    assert dense(read(str(tmp_path / 'tsv'), 'train')) == [[1, 1]]


def test_label_list_column_under_another_name_is_not_read_as_an_attribute(tmp_path):
    rows = ''.join(f'{i}.png,"c{i % 7},c{(i + 3) % 7}"\n' for i in range(30))
    path = _csv(tmp_path, 'path,annotations\n' + rows)
    with pytest.raises(LabelFileError, match=r"column 'annotations' looks like a label list.*--labels-column "
                                             r"annotations"):
        read(path)
    assert read(path, labels_column='annotations').num_classes == 7
    with pytest.raises(LabelFileError, match=r"--labels-column 'tags' not in the columns \['path', 'annotations'\]"):
        read(path, labels_column='tags')
    with pytest.raises(LabelFileError, match=r"no label-list column: columns are \['path', 'annotations'\]"):
        read(path, label_format='csv')


def test_only_documented_spellings_mean_unknown(tmp_path):
    path = _csv(tmp_path, 'path,neck\na.png,None\nb.png,round\nc.png,#N/A\nd.png,null\ne.png,\n')
    ls = read(path)
    assert ls.schema.groups[0].values == ['None', 'null', 'round']  # real values, not unknown
    assert dense(ls)[2] == [-1, -1, -1] and dense(ls)[4] == [-1, -1, -1]
    ls = read(path, unknown_values=('None', 'null'))
    assert ls.schema.groups[0].values == ['round'] and dense(ls) == [[-1], [1], [-1], [-1], [-1]]


def test_paths_are_normalised_before_the_duplicate_check(tmp_path):
    path = _csv(tmp_path, 'path,labels\n./x.png,cat\nx.png,dog\n')
    with pytest.raises(LabelFileError, match=r"row 3: duplicate image path 'x.png' \(first at row 2\)"):
        read(path)


def test_images_folder_beside_the_label_file_and_image_dir(tmp_path, caplog):
    for name in ('a.png', 'b.png'):
        _png(str(tmp_path / 'images' / name))
    (tmp_path / 'attributes.csv').write_text('filename,neck\na.png,round\nb.png,v\n')
    with caplog.at_level(logging.INFO):
        ls = read(str(tmp_path), 'attributes')
    assert ls.root == str(tmp_path / 'images') and 'resolve under' in caplog.text
    other = tmp_path / 'elsewhere'
    ls = read(str(tmp_path), 'attributes', image_dir=str(other))
    assert ls.root == str(other)


# ---- layouts as distributed: the file names people download

def _pixels(i):
    return np.random.default_rng(i).integers(0, 255, (16, 16, 3)).astype(np.uint8)


def make_coco2017(root, n_train=24, n_val=12):
    for split, n in (('train2017', n_train), ('val2017', n_val)):
        make_coco(root, split, n)


def make_voc2012(root):
    root = os.path.join(root, 'VOCdevkit', 'VOC2012')
    objects = {f'2008_{i:06d}': [(['cat', 'dog', 'bird'][i % 3], 0), (['cat', 'dog'][i % 2], int(i % 5 == 0))]
               for i in range(36)}
    make_voc(root, objects, 'trainval')
    for split, ids in (('train', list(objects)[:24]), ('val', list(objects)[24:])):
        with open(os.path.join(root, 'ImageSets', 'Main', f'{split}.txt'), 'w') as f:
            f.write('\n'.join(ids) + '\n')
    return root


def make_openimages_v6(root):
    os.makedirs(root, exist_ok=True)
    with open(os.path.join(root, 'oidv6-class-descriptions.csv'), 'w') as f:
        f.write('LabelName,DisplayName\n/m/01,Cat\n/m/02,Dog\n/m/03,Car\n')
    for split, name, n in (('train', 'oidv6-train', 24), ('validation', 'oidv7-validation', 12), ('test', 'test', 6)):
        rows = [(f'{split}{i}', f'/m/0{1 + (i + k) % 3}', int(k == 0)) for i in range(n) for k in range(2)]
        frame = pd.DataFrame(rows, columns=['ImageID', 'LabelName', 'Confidence'])
        frame.insert(1, 'Source', 'verification')
        frame.to_csv(os.path.join(root, f'{name}-annotations-human-imagelabels.csv'), index=False)
        os.makedirs(os.path.join(root, split))
        for i in range(n):
            Image.fromarray(_pixels(i)).save(os.path.join(root, split, f'{split}{i}.jpg'))


def make_styles_root(root, n=60):
    """The Kaggle fashion-product root: styles.csv (with a comma inside a productDisplayName) + images/<id>.jpg."""
    os.makedirs(root, exist_ok=True)
    genders, articles = ['Men', 'Women'], [('Apparel', 'Topwear', 'Shirts'), ('Apparel', 'Bottomwear', 'Jeans'),
                                           ('Footwear', 'Shoes', 'Casual Shoes')]
    colours = ['Blue', 'Black', 'White']
    lines = ['id,gender,masterCategory,subCategory,articleType,baseColour,season,year,usage,productDisplayName']
    os.makedirs(os.path.join(root, 'images'))
    for i in range(n):
        master, sub, article = articles[i % 3]
        name = f'Brand {i}, Men Shirt' if i % 7 == 0 else f'Brand {i} thing'
        lines.append(f'{1000 + i},{genders[i % 2]},{master},{sub},{article},{colours[(i // 3) % 3]},Fall,2012,Casual,'
                     f'{name}')
        Image.fromarray(_pixels(i)).save(os.path.join(root, 'images', f'{1000 + i}.jpg'))
    with open(os.path.join(root, 'styles.csv'), 'w') as f:
        f.write('\n'.join(lines) + '\n')


def make_garment_root(root, n=60):
    """The seed's garment root: one attributes.csv with bare file names, images/ beside it, no split files."""
    os.makedirs(os.path.join(root, 'images'))
    rows = ['filename,neck,sleeve_length,pattern']
    for i in range(n):
        rows.append(f'{i:04d}.png,{["round", "v"][i % 2]},{["long", "short", "#N/A"][i % 3]},{["plain", "dots"][(i // 2) % 2]}')
        Image.fromarray(_pixels(i)).save(os.path.join(root, 'images', f'{i:04d}.png'))
    with open(os.path.join(root, 'attributes.csv'), 'w') as f:
        f.write('\n'.join(rows) + '\n')


def test_published_names_are_found_for_the_default_splits(tmp_path):
    make_coco2017(str(tmp_path / 'coco'))
    train, val = read(str(tmp_path / 'coco'), 'train'), read(str(tmp_path / 'coco'), 'validation')
    assert (train.split, val.split, train.format) == ('train2017', 'val2017', 'coco')
    assert train.root.endswith('train2017') and os.path.isfile(os.path.join(train.root, train.paths[0]))
    voc = make_voc2012(str(tmp_path / 'voc'))
    assert read(voc, 'train').split == 'train' and len(read(voc, 'validation')) == 12
    make_openimages_v6(str(tmp_path / 'oi'))
    oi = read(str(tmp_path / 'oi'), 'train')
    assert oi.format == 'openimages' and len(oi) == 24 and read(str(tmp_path / 'oi'), 'val').split == 'validation'


def test_styles_root_is_read_directly_and_split_by_seed(tmp_path):
    make_styles_root(str(tmp_path))
    parts = {s: read(str(tmp_path), s) for s in ('train', 'val', 'test')}
    assert parts['train'].format == 'products' and parts['train'].split.startswith('train (seeded split 0')
    assert [g.name for g in parts['train'].schema.groups] == ['gender', 'articleType', 'baseColour']
    paths = [set(ls.paths) for ls in parts.values()]
    assert sum(map(len, paths)) == 60 and not (paths[0] & paths[1] or paths[0] & paths[2] or paths[1] & paths[2])
    assert read(str(tmp_path), 'train').paths == parts['train'].paths  # seeded: the same every time
    other = read(str(tmp_path), 'train', split_seed=3)
    assert other.paths != parts['train'].paths
    tree = read(str(tmp_path), 'train', tree_columns=['masterCategory', 'subCategory', 'articleType'],
                attribute_columns=['gender'])
    assert tree.schema.kind == 'hierarchical'
    assert [g.key for g in tree.schema.groups][:3] == ['gender', 'masterCategory', 'subCategory[masterCategory=Apparel]']
    # the tree alone reads the tree instead of the default attributes (gender and baseColour were added as roots)
    alone = read(str(tmp_path), 'train', tree_columns=['masterCategory', 'subCategory', 'articleType'])
    assert {g.name for g in alone.schema.groups} == {'masterCategory', 'subCategory', 'articleType'}


def test_a_child_seen_under_two_parents_is_an_error_naming_both(tmp_path):
    make_styles_root(str(tmp_path))
    with open(tmp_path / 'styles.csv', 'a') as f:
        f.write('2000,Men,Footwear,Topwear,Shirts,Blue,Fall,2012,Casual,odd one\n')
    Image.fromarray(_pixels(0)).save(tmp_path / 'images' / '2000.jpg')
    with pytest.raises(LabelFileError, match=r"subCategory 'Topwear' lies under masterCategory 'Footwear' here and "
                                             r"under 'Apparel' at row 2"):
        read(str(tmp_path), 'train', tree_columns=['masterCategory', 'subCategory'])


def test_val_images_that_are_also_training_images_are_counted(tmp_path):
    """A VOC root without train.txt trains on trainval, which holds every val image: model_best was chosen on
    training images without a word (adversarial pass)."""
    from timm_ml.data.label_sets import shared_images
    voc = make_voc2012(str(tmp_path))
    assert shared_images(read(voc, 'train'), read(voc, 'val')) == 0
    os.remove(os.path.join(voc, 'ImageSets', 'Main', 'train.txt'))
    train, val = read(voc, 'train'), read(voc, 'val')
    assert train.split == 'trainval' and shared_images(train, val) == len(val) == 12


def test_the_folder_a_tarball_unpacks_to_names_the_root_inside_it(tmp_path):
    """VOCdevkit/ (what the VOC tarball unpacks to) gave a long 'no label files there at all' line (adversarial pass)."""
    make_voc2012(str(tmp_path))
    with pytest.raises(LabelFileError, match=r"but folders inside it hold label files: VOC2012 \(give one of them as "
                                             r"the data root, e\.g\. .*VOCdevkit/VOC2012\)"):
        read(str(tmp_path / 'VOCdevkit'), 'train')


def test_an_unbalanced_quote_in_a_label_csv_is_an_error_naming_its_line(tmp_path):
    """A productDisplayName opening a quote swallowed every later row into one field (60 products read as 10), logged
    only as 'rows joined back' (adversarial pass)."""
    make_styles_root(str(tmp_path))
    lines = (tmp_path / 'styles.csv').read_text().split('\n')
    lines[10] = lines[10].rsplit(',', 1)[0] + ',"Roadster Men Tee'
    (tmp_path / 'styles.csv').write_text('\n'.join(lines))
    with pytest.raises(LabelFileError, match=r'styles.csv: line 11: a quoted field runs over lines 11-61 \(an '
                                             r'unbalanced " quote'):
        read(str(tmp_path), 'train')
    lines[10] = lines[10].replace('"Roadster Men Tee', '"Roadster, Men Tee"')  # a closed quote is one field
    (tmp_path / 'styles.csv').write_text('\n'.join(lines))
    assert sum(len(read(str(tmp_path), s)) for s in ('train', 'val', 'test')) == 60


def test_nothing_found_lists_the_files_and_the_flag_for_each(tmp_path):
    make_coco(str(tmp_path), 'minival2014', 4)
    (tmp_path / 'notes.csv').write_text('a,b\n1,2\n')
    with pytest.raises(LabelFileError, match=r"(?s)No labels for split 'train'.*annotations/instances_minival2014\.json: "
                                             r"coco: --train-split minival2014"):
        read(str(tmp_path), 'train')


# ---- end to end (slow): each layout trains, then validates with the checkpoint alone

LAYOUTS = {'coco2017': make_coco2017, 'voc2012': make_voc2012, 'openimages_v6': make_openimages_v6,
           'styles': make_styles_root, 'garments': make_garment_root}


@pytest.mark.slow
@pytest.mark.parametrize('kind', list(LAYOUTS))
def test_each_layout_trains_with_no_split_flags_and_validate_reproduces(kind, tmp_path):
    root = str(tmp_path / kind)
    os.makedirs(root)
    root = LAYOUTS[kind](root) or root
    run_script(['train.py', root, '--model', 'test_resnet', '--input-size', '3', '16', '16', '-b', '8', '-j', '0',
                '--epochs', '2', '--warmup-epochs', '0', '--opt', 'adamw', '--lr', '3e-3', '--output',
                str(tmp_path / 'out'), '--experiment', kind])
    summary = pd.read_csv(tmp_path / 'out' / kind / 'summary.csv')
    metric = 'eval_attr_mean_acc' if kind in ('styles', 'garments') else 'eval_map'
    best = summary[metric].max()
    # no data folder, no --split: both come from the checkpoint
    proc = run_script(['validate.py', '--checkpoint', str(tmp_path / 'out' / kind / 'model_best.pth.tar'), '-j', '0',
                       '-b', '8'])
    headline = f'* acc {best:.3f}' if kind in ('styles', 'garments') else f'* mAP {best:.3f}'
    assert headline in proc.stdout, proc.stdout[-800:]
    if kind in ('styles', 'garments'):
        split = pd.read_csv(tmp_path / 'out' / kind / 'split.csv')
        assert set(split.split) == {'train', 'val'} and split.path.is_unique


def test_coco_images_sharing_an_id_and_datumaro_bool_labels_are_named(tmp_path):
    make_coco(str(tmp_path / 'c'))
    path = tmp_path / 'c' / 'annotations' / 'instances_train.json'
    data = json.loads(path.read_text())
    data['images'][1]['id'] = data['images'][0]['id']
    path.write_text(json.dumps(data))
    with pytest.raises(LabelFileError, match=r"images 0 and 1 share the id 100"):
        read(str(tmp_path / 'c'), 'train')
    labels = ['cat', 'dog']
    make_datumaro(str(tmp_path / 'd'), [(n, 'exclusive', [n]) for n in labels], labels, [([True], []), ([1], [])])
    with pytest.raises(LabelFileError, match=r'row 0: label_id True out of range'):
        read(str(tmp_path / 'd'), 'train')
