"""A griffe extension for the API reference: the Sphinx roles of rnnlab's docstrings as code.

The docstrings cross-reference with roles (:class:`~rnnlab.recurrent.Recurrent`,
:func:`rnnlab.scan.scan`, :mod:`rnnlab.tasks`), which Markdown does not know. On the site each
becomes the code span of its target, ``Recurrent`` for a target written with ``~`` (the last
name only, as Sphinx shows it) and the whole dotted name otherwise. mkdocs.yml names this file
under mkdocstrings' ``extensions``.
"""

from __future__ import annotations

import re

import griffe

ROLE = re.compile(r":(?:mod|class|func|meth|attr|data):`(~?)([^`]+)`")


def as_code(match: re.Match) -> str:
    short, target = match.group(1), match.group(2)
    return f"`{target.rsplit('.', 1)[-1] if short else target}`"


class SphinxRoles(griffe.Extension):
    """Rewrites every docstring's roles as it is loaded."""

    def on_instance(self, *, obj: griffe.Object, **kwargs) -> None:
        if obj.docstring is not None:
            obj.docstring.value = ROLE.sub(as_code, obj.docstring.value)
