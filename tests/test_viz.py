"""md.viz.draw_graph (issue 20 item 4): the backward graph it draws is the one autograd runs, with
the shape of the graph PyTorch records for the same ops, leaves named from named_parameters,
saved shapes on the nodes, and clear errors for a tensor without a graph, a missing graphviz
package and a missing ``dot`` program."""
from __future__ import annotations

import re
import shutil
import sys

import pytest

from conftest import require

import minidl as md

# the DOT source draw_graph writes: `\tname [label=...]` for a node, `\ta -> b` for an edge
_NODE = re.compile(r'^\t(\S+) \[label=("(?:[^"\\]|\\.)*"|\S+?)[\] ]', re.S)
_EDGE = re.compile(r"^\t(\S+) -> (\S+)")


def parse(graph):
    """(labels {node: label}, edges [(from, to)], fill colours {node: colour}) of a Digraph."""
    labels, edges, colours = {}, [], {}
    for line in graph.body:
        e = _EDGE.match(line)
        if e:
            edges.append(e.groups())
            continue
        m = _NODE.match(line)
        assert m, f"unexpected line in the DOT source: {line!r}"
        labels[m.group(1)] = m.group(2).strip('"')
        colour = re.search(r"fillcolor=(\S+?)\]", line)
        if colour:
            colours[m.group(1)] = colour.group(1)
    return labels, edges, colours


def drawn_tree(graph):
    """The drawn graph as nested (first label line, [children...]) from the output, following
    the edges in the order they were written (each node expanded once, later visits as a name)."""
    labels, edges, _ = parse(graph)
    children = {}
    for a, b in edges:
        children.setdefault(a, []).append(b)
    seen = set()

    def visit(n):
        name = labels[n] if n.startswith("leaf") else labels[n].split("\n")[0]
        if n in seen:
            return (name, "seen")
        seen.add(n)
        return (name, [visit(c) for c in children.get(n, [])])
    return visit("output")


def torch_tree(y, params, rename=lambda name: name):
    """The same nested form walked from torch's ``y.grad_fn`` (as torchviz walks it), node names
    passed through ``rename``; leaves labelled ``name\\n(shape)`` from ``params``."""
    names = {id(t): n for n, t in params.items()}
    seen = set()

    def leaf(t):
        shape = "(" + ", ".join(str(d) for d in t.shape) + ")"
        return f"{names[id(t)]}\n{shape}" if id(t) in names else shape

    def visit(fn):
        name = rename(type(fn).__name__)
        if id(fn) in seen:
            return (name, "seen")
        seen.add(id(fn))
        if hasattr(fn, "variable"):
            return (name, [(leaf(fn.variable), [])])
        return (name, [visit(f) for f, _ in fn.next_functions if f is not None])
    return (leaf(y), [visit(y.grad_fn)])


def _primitive_mlp(t):
    """A 4-3-2 tanh MLP written with primitive ops, x used twice: the same graph in both libraries."""
    t.manual_seed(0)
    x = t.randn(5, 4)
    p = {"W1": t.randn(3, 4, requires_grad=True), "b1": t.randn(3, requires_grad=True),
         "W2": t.randn(2, 3, requires_grad=True), "b2": t.randn(2, requires_grad=True)}
    h = t.tanh(x @ p["W1"].t() + p["b1"])
    y = ((h @ p["W2"].t() + p["b2"]) ** 2).sum() + (p["b1"] * p["b1"]).sum()
    return y, p


# minidl's node names for these ops -> PyTorch's
TORCH_NAME = {"SumBackward": "SumBackward0", "AddBackward": "AddBackward0", "ScalarPowBackward": "PowBackward0",
              "MatmulBackward": "MmBackward0", "PermuteBackward": "TBackward0", "ActivationBackward": "TanhBackward0",
              "MulBackward": "MulBackward0", "AccumulateGrad": "AccumulateGrad"}


def test_primitive_mlp_graph_has_pytorchs_shape():
    require("graphviz")
    torch = require("torch")
    y, p = _primitive_mlp(md)
    drawn = drawn_tree(md.viz.draw_graph(y, params=p))
    ty, tp = _primitive_mlp(torch)

    def renamed(tree):
        name, kids = tree
        name = TORCH_NAME.get(name, name)
        return (name, kids if kids == "seen" else [renamed(k) for k in kids])
    assert renamed(drawn) == torch_tree(ty, tp)
    labels, edges, _ = parse(md.viz.draw_graph(y, params=p))
    # 12 op nodes (add, sum, pow, add, mm, tanh, add, mm, t, t, sum, mul) + 4 AccumulateGrad + 4 leaves
    # + the output; b1 * b1 is two edges into one node
    assert len(labels) == 21
    acc_b1 = [a for a, b in edges if labels[b] == "b1\n(3)"][0]
    assert sum(b == acc_b1 for _, b in edges) == 3  # from AddBackward and twice from MulBackward


def test_module_mlp_leaves_are_named_from_named_parameters():
    require("graphviz")
    torch = require("torch")
    model = md.nn.Sequential(md.nn.Linear(4, 3), md.nn.ReLU(), md.nn.Linear(3, 2))
    loss = md.nn.functional.cross_entropy(model(md.randn(5, 4)), md.tensor([0, 1, 0, 1, 1]))
    labels, edges, colours = parse(md.viz.draw_graph(loss, params=dict(model.named_parameters())))
    leaves = sorted(labels[n] for n in labels if n.startswith("leaf"))
    assert leaves == ["0.bias\n(3)", "0.weight\n(3, 4)", "2.bias\n(2)", "2.weight\n(2, 3)"]
    assert all(colours[n] == "lightblue" for n in labels if n.startswith("leaf"))
    assert colours["output"] == "darkolivegreen1" and labels["output"] == "()"
    names = sorted(labels[n].split("\n")[0] for n in labels if n.startswith("node"))
    assert names == ["AccumulateGrad"] * 4 + ["ActivationBackward", "CrossEntropyBackward", "LinearBackward",
                                             "LinearBackward"]
    # PyTorch's graph of the same model reaches the same named leaves (through more, unfused nodes)
    tm = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(3, 2))
    tloss = torch.nn.functional.cross_entropy(tm(torch.randn(5, 4)), torch.tensor([0, 1, 0, 1, 1]))

    def torch_leaves(tree):
        name, kids = tree
        return [name] if kids == [] else [x for k in (kids if kids != "seen" else []) for x in torch_leaves(k)]
    assert sorted(torch_leaves(torch_tree(tloss, dict(tm.named_parameters())))) == leaves


def test_nodes_show_the_shapes_they_saved():
    require("graphviz")
    lin = md.nn.Linear(4, 3)
    x = md.randn(5, 4, requires_grad=True)
    y = md.relu(lin(x)).sum()
    labels, _, _ = parse(md.viz.draw_graph(y, params={"x": x}))
    by_name = {v.split("\n")[0]: v for v in labels.values()}
    assert by_name["LinearBackward"] == "LinearBackward\nsaved (5, 4) (3, 4)"  # the input x and the weight W
    assert by_name["ActivationBackward"] == "ActivationBackward\nActivation.relu\nsaved (5, 3)"
    assert "x\n(5, 4)" in labels.values() and "(3, 4)" in labels.values()  # an unnamed leaf: its shape
    y.backward()
    labels, _, _ = parse(md.viz.draw_graph(y))
    assert "LinearBackward\nsaved: freed by backward()" in labels.values()


def test_a_leaf_that_requires_grad_is_drawn_alone():
    require("graphviz")
    w = md.zeros(2, 3, requires_grad=True)
    labels, edges, _ = parse(md.viz.draw_graph(w, params={"w": w}))
    assert labels == {"leaf1": "w\n(2, 3)"} and edges == []


def test_bad_input_is_named():
    with pytest.raises(RuntimeError, match="no backward graph: it does not require grad"):
        md.viz.draw_graph(md.ones(3) * 2)
    x = md.ones(3, requires_grad=True)
    with md.no_grad():
        with pytest.raises(RuntimeError, match="no backward graph"):
            md.viz.draw_graph(x * 2)
    with pytest.raises(TypeError, match="expected a Tensor, got list"):
        md.viz.draw_graph([1.0])
    with pytest.raises(TypeError, match="params must be a dict of name -> Tensor"):
        md.viz.draw_graph(x * 2, params=[x])
    with pytest.raises(TypeError, match=r"params\['w'\] is a ndarray, not a Tensor"):
        md.viz.draw_graph(x * 2, params={"w": x.detach().numpy()})


def test_without_the_graphviz_package_the_error_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "graphviz", None)  # `import graphviz` raises ImportError
    with pytest.raises(ImportError, match=r'pip install "minidl\[viz\]"'):
        md.viz.draw_graph(md.ones(3, requires_grad=True) * 2)


def test_renders_to_svg():
    require("graphviz")
    if shutil.which("dot") is None:
        pytest.skip("Graphviz's dot program is not installed: apt-get install graphviz")
    lin = md.nn.Linear(4, 3)
    svg = md.viz.draw_graph(lin(md.randn(2, 4)).sum(), params=dict(lin.named_parameters())).pipe(format="svg")
    assert svg.startswith(b"<?xml") and b"<svg" in svg
    for text in (b"LinearBackward", b"weight", b"bias", b"saved (2, 4) (3, 4)"):
        assert text in svg


def test_without_dot_rendering_names_the_graphviz_package(monkeypatch, tmp_path):
    graphviz = require("graphviz")
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty folder: no dot on PATH
    g = md.viz.draw_graph(md.ones(3, requires_grad=True) * 2)
    with pytest.raises(graphviz.ExecutableNotFound, match="apt-get install graphviz"):
        g.pipe(format="svg")
    with pytest.raises(graphviz.ExecutableNotFound, match="apt-get install graphviz"):
        g.render(tmp_path / "graph", format="png")
