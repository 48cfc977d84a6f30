"""Couplet: the Completions API in Discord."""
