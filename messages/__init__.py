"""Rendering: domain facts -> text and Block Kit."""
