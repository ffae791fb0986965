""" A Hugging Face / timm model folder from a timm_ml checkpoint: stock timm loads it with
`timm.create_model('local-dir:<folder>', pretrained=True)` (and `hf-hub:` once pushed; transformers' timm wrapper reads
the same layout, not tested here: transformers is not a dependency).

Written by timm's own `save_for_hf`: `model.safetensors` and `config.json` (architecture, num_classes, label_names,
the preprocessing as pretrained_cfg), plus a `timm_ml` entry in config.json (label schema, per-class thresholds, how to
score: a sigmoid per class, a softmax per exclusive group) and a README.md model card written from the run. Only
heads that are timm's own classifier can go this way (linear, attributes, hierarchical): the other heads
(mldecoder, cosine, gcn, ssgrl) are modules stock timm cannot rebuild; their users keep the timm_ml checkpoint (infer.py)
or take the ONNX / OpenVINO export, which carries the head.
"""
import csv
import json
import os
import shlex
from typing import Optional

from timm.models import save_for_hf

from timm_ml.utils.escape import markdown_text, read_spreadsheet_cell
from timm_ml.utils.writer import replace_folder

from timm_ml.recipes import GROUP_HEADS, scoring_schema

from .export import export_metadata

TIMM_HEADS = ('linear',) + GROUP_HEADS


class HfExportError(ValueError):
    """A checkpoint that stock timm cannot load from a model folder."""


def _card(config, meta, folder_name, train_args, summary, results, per_class):
    schema = scoring_schema(config)
    data = config.get('data') or {}
    md = markdown_text
    lines = [f'# {md(folder_name)}', '', f'A {md(config["model"])} multi-label classifier trained with '
             f'[timm_ml](https://github.com/) ({md(config["ml_head"])} head, {md(config.get("loss") or "default")} loss), '
             'exported for stock timm:', '', '```python', 'import timm',
             f"model = timm.create_model('local-dir:{folder_name}', pretrained=True)  # hf-hub:<you>/{folder_name} "
             'once pushed',
             'scores = model(x).sigmoid()' + ('  # softmax within each exclusive group: see config.json "timm_ml"'
                                              if schema.groups else ''), '```', '',
             '## Data', '',
             f'- {schema.num_classes} classes' + (f' ({schema.describe()})' if schema.groups else '') +
             f'; first: {", ".join(md(c) for c in schema.classes[:8])}{" ..." if schema.num_classes > 8 else ""}',
             f'- label format {md(data.get("label_format", "?"))}, train split {md(data.get("train_split", "?"))}, '
             f'validation split {md(data.get("val_split", "?"))}' +
             (f', data folder {md(os.path.basename(os.path.normpath(data["root"])))}' if data.get('root') else ''),
             f'- preprocessing: input {meta["preprocessing"]["input_size"]}, mean {meta["preprocessing"]["mean"]}, '
             f'std {meta["preprocessing"]["std"]}, {meta["preprocessing"]["interpolation"]}, crop_pct '
             f'{meta["preprocessing"]["crop_pct"]}', '']
    if train_args:
        keys = ('model', 'ml_head', 'loss', 'opt', 'lr', 'epochs', 'batch_size', 'input_size', 'img_size',
                'warmup_epochs', 'weight_decay', 'sched', 'model_ema', 'amp', 'seed')
        flags = ' '.join(f'--{k.replace("_", "-")} {" ".join(map(str, v)) if isinstance(v, (list, tuple)) else v}'
                         for k, v in ((k, train_args.get(k)) for k in keys) if v not in (None, False, ''))
        root = os.path.basename(os.path.normpath(str(train_args.get('data') or train_args.get('data_dir') or 'DATA')))
        command = f'python train.py {shlex.quote(root)} {flags}'.replace('`', "'")
        lines += ['## Training', '', '```bash', command, '```', '']
    if results is not None:
        lines += [f'## Metrics ({md(results.get("split", "?"))} split, {md(results.get("images", "?"))} images)', '',
                  '| metric | value |', '|---|---|']
        lines += [f'| {k} | {v:.2f} |' for k, v in results.items() if isinstance(v, float) and
                  k in ('map', 'CF1', 'OF1', 'thr_CF1', 'thr_OF1', 'attr_mean_acc', 'attr_mean_bacc',
                        'attr_mean_macro_f1', 'hier_consistency')]
        lines.append('')
    elif summary is not None:
        lines += [f'## Metrics (validation split {md(data.get("val_split", "?"))}, best epoch {md(summary["epoch"])})',
                  '',
                  '| metric | value |', '|---|---|']
        lines += [f'| {k[5:]} | {float(v):.2f} |' for k, v in summary.items()
                  if k in ('eval_map', 'eval_CF1', 'eval_OF1', 'eval_attr_mean_acc')]
        lines.append('')
    if per_class:
        thresholds = meta.get('thresholds')
        lines += ['## Per class', '', '| class | AP | positives | threshold |', '|---|---|---|---|']
        for row in per_class:
            i = int(row['index'])
            t = f'{thresholds[i]:.3f}' if thresholds is not None and i in schema.multilabel else \
                ('argmax' if schema.group_of_column(i) is not None else f'{meta["default_threshold"]}')
            ap = float(row['ap'])
            lines.append(f'| {md(row["name"])} | {"" if ap != ap else f"{ap:.2f}"} | {md(row["positives"])} | {t} |')
        lines.append('')
    elif meta.get('thresholds') is not None:
        lines += ['Per-class thresholds: config.json "timm_ml" "thresholds".', '']
    return '\n'.join(lines)


def _best_summary_row(checkpoint_path):
    path = os.path.join(os.path.dirname(os.path.abspath(checkpoint_path)), 'summary.csv')
    if not os.path.isfile(path):
        return None
    with open(path, newline='') as f:
        rows = list(csv.DictReader(f))
    rows = [r for r in rows if r.get('eval_map') not in (None, '')]
    if not rows:
        return None
    key = 'eval_map' if rows[0].get('eval_map') else 'eval_attr_mean_acc'
    return max(rows, key=lambda r: float(r[key]))


def export_hf(model, config, checkpoint_path: str, out: str, results_path: Optional[str] = None,
              train_args: Optional[dict] = None) -> str:
    """ Write the model folder `out`.

    Args:
        model: The model rebuilt from the checkpoint (a stock timm model for the timm-classifier heads).
        config: The checkpoint's ml_config. checkpoint_path: Its file (its run folder's summary.csv feeds the card).
        results_path: validate.py --results-file json: the card's metrics and, beside it, the per-class table.
        train_args: The training arguments (the checkpoint's `args`) for the card's command.
    """
    if config['ml_head'] not in TIMM_HEADS:
        raise HfExportError(
            f'a {config["ml_head"]} head is not a timm classifier, so stock timm cannot rebuild it from a model folder. '
            'Keep the timm_ml checkpoint (infer.py --checkpoint), or export ONNX / OpenVINO (infer.py --export onnx), '
            'which carries the head.')
    meta = export_metadata(config)
    dc = config['data_config']
    results, per_class = None, None
    if results_path:
        with open(results_path) as f:
            results = json.load(f)
        if isinstance(results, list):
            results = results[0]
        table = os.path.splitext(results_path)[0] + '_per_class.csv'
        if os.path.isfile(table):
            with open(table, newline='') as f:
                per_class = [{k: read_spreadsheet_cell(v or '') for k, v in r.items()} for r in csv.DictReader(f)]
    card = _card(config, meta, os.path.basename(os.path.normpath(out)), train_args,
                 None if results else _best_summary_row(checkpoint_path), results, per_class)

    def build(folder):
        _save(model, folder, meta, dc)
        with open(os.path.join(folder, 'README.md'), 'w') as f:
            f.write(card)
    return replace_folder(out, build, '--output', kinds=('hf-folder',))


def _save(model, out, meta, dc):
    save_for_hf(model, out, model_config=dict(label_names=list(meta['classes']), timm_ml=dict(
        format_version=meta['format_version'], head=meta['head'], schema=meta['schema'], thresholds=meta['thresholds'],
        default_threshold=meta['default_threshold'], output=meta['output'],
        decode=meta['preprocessing']['decode'])), safe_serialization=True,
        data_config=dict(input_size=tuple(dc['input_size']), interpolation=dc['interpolation'], mean=tuple(dc['mean']),
                         std=tuple(dc['std']), crop_pct=dc['crop_pct'], crop_mode=dc.get('crop_mode') or 'center'))
