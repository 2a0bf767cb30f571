"""Write the zh-Hant catalogs from the zh-Hans ones: dialogs/locales/zh-Hant (Taiwan phrasing, the default)
and dialogs/locales/zh-Hant-HK (Hong Kong), with the regional OpenCC profiles of ``dialogs.hant``.

Run after editing a zh-Hans catalog: ``python scripts/derive_hant.py``. Wrong conversions are fixed in the
word table of dialogs/hant.py (then run this again), never in the generated files.
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dialogs import hant  # noqa: E402
from dialogs.i18n import HANT_DIRS, LOCALE_DIR  # noqa: E402

LANGUAGE_NAME = "繁體中文"


def convert(node: object, region: str) -> object:
    if isinstance(node, dict):
        return {key: convert(value, region) for key, value in node.items()}
    if isinstance(node, str):
        return hant.message(node, region)
    return node


def main() -> None:
    for region, folder in HANT_DIRS.items():
        target_dir = LOCALE_DIR / folder
        target_dir.mkdir(exist_ok=True)
        for source in sorted((LOCALE_DIR / "zh-Hans").glob("*.yml")):
            data = yaml.safe_load(source.read_text(encoding="utf-8")) or {}
            converted = convert(data, region)
            if source.stem == "common":
                converted["common"]["language_name"] = LANGUAGE_NAME  # type: ignore[index]
                converted["common"]["language_set"] = f"語言已切換為{LANGUAGE_NAME}。"  # type: ignore[index]
            header = f"# Generated from zh-Hans/{source.name} by scripts/derive_hant.py ({region}); edit the zh-Hans file.\n"
            body = yaml.safe_dump(converted, allow_unicode=True, sort_keys=False, width=1000)
            (target_dir / source.name).write_text(header + body, encoding="utf-8")


if __name__ == "__main__":
    main()
