"""Couplet: the Completions API in Discord."""

import sys

# httpx imports its command-line client whenever it can (click, and Pygments'
# lexer table before it finds rich missing: about 2 MiB, kept for the life of
# the process); Couplet never runs it. With this entry the import fails at
# once and `httpx.main` is httpx's own stub saying what to install.
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
