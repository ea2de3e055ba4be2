"""File names derived from labels: a model or scenario name in any script stays readable, and stays a safe name."""

from __future__ import annotations

import re
import unicodedata

_UNSAFE = re.compile(r"[^\w.\-]+")  # \w: letters and digits of any script, and '_'


def safe_file_name(label: str, fallback: str = "scenario") -> str:
    """``label`` as one path component: NFC, runs of anything but letters, digits, '_', '.', '-' become '-',
    no leading dots or dashes (no hidden files, no options), at most 100 characters.

    >>> safe_file_name("聊天模型 fleet/2026")
    '聊天模型-fleet-2026'
    """
    name = _UNSAFE.sub("-", unicodedata.normalize("NFC", label)).strip("-.")[:100].strip("-.")
    return name or fallback
