"""Message catalogues: every string a table or report shows, one YAML file per language (``en.yaml``, ``zh.yaml``).

``t(lang, key, **fields)`` looks a message up and fills its ``{fields}``. Numbers, ids and units are passed in as
fields, never translated. ``tests/test_i18n.py`` checks that both catalogues have the same keys and the same fields.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, get_args

from planner.errors import InputError, not_one_of

Lang = Literal["en", "zh"]
LANGS: tuple[str, ...] = get_args(Lang)
CATALOGUE_DIR = Path(__file__).resolve().parent


@lru_cache(maxsize=len(LANGS))
def catalogue(lang: str) -> dict[str, str]:
    """The messages of one language, by key."""
    import yaml

    data = yaml.safe_load((CATALOGUE_DIR / f"{lang}.yaml").read_text(encoding="utf-8"))
    return {str(k): str(v) for k, v in data.items()}


def t(lang: str, key: str, **fields: Any) -> str:
    """The message ``key`` in ``lang`` with its fields filled in."""
    return catalogue(lang)[key].format(**fields)


def column(lang: str, name: str, **fields: Any) -> str:
    """A table column's header: ``col.<name>`` in the catalogue (money columns name the currency, ``{cur}``)."""
    return catalogue(lang)[f"col.{name}"].format(**fields)


def check_lang(value: str, where: str = "--lang") -> str:
    if value not in LANGS:
        raise InputError(not_one_of(f"{where}: ", value, LANGS))
    return value
