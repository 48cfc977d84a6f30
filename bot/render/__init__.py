"""Turning generation results into Discord messages, views and files."""
