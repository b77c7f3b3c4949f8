"""Sphinx configuration of threadpty's documentation site (``make docs``)."""

from __future__ import annotations

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "_ext"))

import threadpty  # noqa: E402 - the installed (editable) package, after the path is set

project = "threadpty"
author = "threadpty's authors"
copyright = "threadpty's authors"  # noqa: A001 - the name Sphinx reads
release = threadpty.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.viewcode",
    "benchplots",  # the performance page's plots, drawn from bench/results/*.json (docs/_ext)
]

exclude_patterns = ["_build"]
templates_path: list[str] = []
root_doc = "index"

html_theme = "alabaster"
html_title = f"threadpty {release}"
html_theme_options = {
    "description": "A container's terminal inside your Python process",
    "page_width": "1100px",
    "sidebar_width": "230px",
    "fixed_sidebar": True,
    "code_font_size": "0.8em",  # README's thread diagram is 100 columns wide
}
html_static_path: list[str] = []

autodoc_member_order = "bysource"
# Types go beside the parameters a docstring describes, and the return type always; the rest are
# in the signature's source ([source] links).
autodoc_typehints = "description"
autodoc_typehints_description_target = "documented_params"
autodoc_typehints_format = "short"
autodoc_default_options = {"members": True}

# Types in signatures that have no page to link to; nitpicky mode (-n) reports every other one.
nitpick_ignore_regex = [
    ("py:class", r"(docker|requests|websockets|typing_extensions|enum|subprocess|types|ssl)\..*"),
    ("py:class", r"threadpty\._.*"),
    ("py:class", r"threadpty\.[\w.]*\._\w+"),  # private helpers named in public signatures
    ("py:class", r"threadpty\.web\._engines\.Container"),
    ("py:class", r"(Size|FdLike|Subscriber|StreamOptions)"),
    ("py:class", r"'Dict\[str"),  # a quoted annotation Sphinx splits at its comma
]
