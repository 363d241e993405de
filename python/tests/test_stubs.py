"""The type stubs describe the module: every name and method they declare exists, and every
public one the module has is declared."""

import ast
from pathlib import Path

import chainstore
from chainstore import _chainstore

STUBS = Path(chainstore.__file__).with_name("_chainstore.pyi")


def declared():
    tree = ast.parse(STUBS.read_text())
    names = {}
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            names[node.name] = {n.name for n in node.body if isinstance(n, ast.FunctionDef)}
        elif isinstance(node, ast.AnnAssign):
            names[node.target.id] = None
    return names


def test_stubs_match_the_module():
    stubs = declared()
    for name, methods in stubs.items():
        runtime = getattr(_chainstore, name)
        for m in methods or ():
            assert hasattr(runtime, m), f"{name}.{m}"
    public = {n for n in dir(_chainstore) if not n.startswith("_")}
    assert public <= set(stubs), public - set(stubs)
    for name in public:
        obj = getattr(_chainstore, name)
        if isinstance(obj, type) and not issubclass(obj, BaseException):
            own = {m for m in vars(obj) if not m.startswith("_")}
            assert own <= stubs[name], (name, own - stubs[name])
    assert set(chainstore.__all__) == public


def test_path_is_a_string(store):
    assert isinstance(store.path, str)
