"""The web lab: train, compare and look inside runs in a browser (`glassnet lab`)."""

from __future__ import annotations

from glassnet.lab.app import create_lab_app

__all__ = ["create_lab_app"]
