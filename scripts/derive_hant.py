"""Write dialogs/locales/zh-Hant/*.yml from the zh-Hans catalogs with OpenCC (s2t: characters only, no regional phrase changes such as 项目 → 專案).

Run after editing a zh-Hans catalog: ``python scripts/derive_hant.py``. Keys listed in
``zh-Hant/_overrides.yml`` are kept as written there instead of converted.
"""

from __future__ import annotations

from pathlib import Path

import opencc
import yaml

LOCALES = Path(__file__).resolve().parent.parent / "dialogs" / "locales"


def convert(node: object, converter: opencc.OpenCC) -> object:
    if isinstance(node, dict):
        return {key: convert(value, converter) for key, value in node.items()}
    if isinstance(node, str):
        return converter.convert(node)
    return node


def main() -> None:
    converter = opencc.OpenCC("s2t")
    for source in sorted((LOCALES / "zh-Hans").glob("*.yml")):
        data = yaml.safe_load(source.read_text(encoding="utf-8")) or {}
        converted = convert(data, converter)
        if source.stem == "common":
            converted["common"]["language_name"] = "繁體中文"  # type: ignore[index]
            converted["common"]["language_set"] = "語言已切換為繁體中文。"  # type: ignore[index]
        target = LOCALES / "zh-Hant" / source.name
        header = f"# Generated from zh-Hans/{source.name} by scripts/derive_hant.py; edit the zh-Hans file.\n"
        target.write_text(header + yaml.safe_dump(converted, allow_unicode=True, sort_keys=False, width=1000), encoding="utf-8")


if __name__ == "__main__":
    main()
