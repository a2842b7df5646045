"""A griffe extension (mkdocstrings, ``extensions:`` in mkdocs.yml) that makes minidl's
docstrings render as the API reference needs them, without rewriting them.

minidl's docstrings are plain text read by ``help()`` and run by doctest
(tests/test_docstrings.py): the runnable examples are bare ``>>>`` blocks, and a few
reStructuredText roles name other objects (``:func:`autocast```). Markdown would run a ``>>>``
block into the paragraph around it; here each one becomes a fenced ``pycon`` code block (the
prompt lines and the expected output, through the next blank line), and each role becomes
inline code. The prose is plain text, so the characters Markdown (and the site's math and
cross-reference extensions) would read as markup are escaped outside code: ``out[i][index[i][j]]``
is an index, not a reference link; ``(*, n)`` a shape, not emphasis; ``<Tensor>`` text, not
a tag; ``$`` a dollar sign, not math. ``double backticks`` stay code, lists and paragraphs stay
Markdown, lines indented by 4 spaces (reST ``::`` literal blocks) stay verbatim.
"""
from __future__ import annotations

import re

from griffe import Extension

_ROLE = re.compile(r":(?:func|class|meth|attr|mod|obj|data|exc|const|py:\w+):`~?([^`]+)`")
_CODE_SPAN = re.compile(r"(`+).+?\1")
_MARKUP = re.compile(r"[*_\[\]$]|<(?!https?://)")


def escape_markup(line: str) -> str:
    r"""One line of prose with Markdown's markup characters escaped outside code spans.

    >>> print(escape_markup("out[i][j] for x (*, n), ``a_b[0]`` <Tensor>"))
    out\[i\]\[j\] for x (\*, n), ``a_b[0]`` &lt;Tensor>
    """
    out, start = [], 0
    for span in _CODE_SPAN.finditer(line):
        out.append(_MARKUP.sub(_escaped, line[start:span.start()]))
        out.append(span.group(0))
        start = span.end()
    out.append(_MARKUP.sub(_escaped, line[start:]))
    return "".join(out)


def _escaped(match: re.Match) -> str:
    return "&lt;" if match.group(0) == "<" else "\\" + match.group(0)


def fence_doctest_blocks(text: str) -> str:
    r"""``text`` with every ``>>>`` block (through the next blank line) inside a ```` ```pycon ````
    fence at the block's indentation, and the other lines' markup escaped (:func:`escape_markup`).

    >>> fence_doctest_blocks("Adds.\n\n>>> 1 + 1\n2\n\nDone.").splitlines()
    ['Adds.', '', '```pycon', '>>> 1 + 1', '2', '```', '', 'Done.']
    """
    out, lines, i = [], text.splitlines(), 0
    while i < len(lines):
        stripped = lines[i].lstrip()
        if not stripped.startswith(">>>"):
            verbatim = lines[i].startswith("    ")
            out.append(lines[i] if verbatim else escape_markup(lines[i]))
            i += 1
            continue
        indent = lines[i][: len(lines[i]) - len(stripped)]
        out.append(f"{indent}```pycon")
        while i < len(lines) and lines[i].strip():
            out.append(lines[i])
            i += 1
        out.append(f"{indent}```")
    return "\n".join(out)


def markdown_docstring(text: str) -> str:
    """A docstring's text as Markdown: doctest blocks fenced, reST roles as inline code.

    >>> markdown_docstring("Use :func:`md.autocast` here.")
    'Use `md.autocast` here.'
    """
    return fence_doctest_blocks(_ROLE.sub(r"`\1`", text))


class DoctestBlocks(Extension):
    """Rewrites each object's docstring with :func:`markdown_docstring` as griffe loads it."""

    def on_instance(self, *, obj, **kwargs):
        if obj.docstring is not None:
            obj.docstring.value = markdown_docstring(obj.docstring.value)
