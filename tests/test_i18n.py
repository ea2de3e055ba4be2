"""The message catalogues: both languages have the same keys and the same {fields} in each message."""

from __future__ import annotations

import string

from planner.i18n import LANGS, catalogue


def _fields(msg: str) -> set[str]:
    return {f for _, f, _, _ in string.Formatter().parse(msg) if f}


def test_every_language_has_the_same_keys_and_fields():
    en = catalogue("en")
    for lang in LANGS:
        other = catalogue(lang)
        assert sorted(other) == sorted(en), f"{lang}: keys differ from en"
        assert {k: _fields(v) for k, v in other.items()} == {k: _fields(v) for k, v in en.items()}, lang


def test_chinese_catalogue_is_translated():
    zh, en = catalogue("zh"), catalogue("en")
    same = [k for k in en if zh[k] == en[k] and any(c.isalpha() and c.isascii() for c in en[k].replace("GPU", ""))]
    # a few are ids or units in both languages (TP, PP, GPU, KV GiB, sheet names of English words are translated)
    assert len(same) <= 8, same
