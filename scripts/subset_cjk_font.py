"""Write dialogs/surveys/fonts/NotoSansSC-civicbot.otf: a small subset of Noto Sans CJK SC (SIL OFL 1.1).

Charts and invitation cards need Chinese glyphs and no CJK font comes from PyPI, so the package
ships this subset: the 3,755 common characters of GB 2312 level 1 and their traditional forms,
ASCII, Latin-1, the usual punctuation, and every character of the survey catalogs and templates
in all three languages. Rarer characters (in a project's name) fall back to a system CJK font.
Run it again after adding text with new characters (tests/dialogs/test_surveys.py checks coverage):

    apt-get download fonts-noto-cjk && dpkg-deb -x fonts-noto-cjk_*.deb /tmp/noto
    python scripts/subset_cjk_font.py /tmp/noto/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc
"""

from __future__ import annotations

import argparse
from pathlib import Path

import opencc
from fontTools import subset
from fontTools.ttLib import TTCollection

ROOT = Path(__file__).resolve().parent.parent
TARGET = ROOT / "dialogs" / "surveys" / "fonts" / "NotoSansSC-civicbot.otf"
FAMILY = "Noto Sans SC civicbot"
SOURCES = [
    *sorted((ROOT / "dialogs" / "locales").glob("*/survey.yml")),
    *sorted((ROOT / "dialogs" / "surveys").glob("*.yml")),
]
PUNCTUATION = "，。、；：？！“”‘’（）《》〈〉【】「」『』—–…·％＋－×÷～￥±≤≥←→↑↓●○■□★☆　"


def gb2312_level1() -> str:
    """The 3,755 characters of GB 2312 level 1 (rows 16–55), the most common ones in names."""
    chars = []
    for high in range(0xB0, 0xD8):
        for low in range(0xA1, 0xFF):
            try:
                chars.append(bytes([high, low]).decode("gb2312"))
            except UnicodeDecodeError:
                continue
    return "".join(chars)


def wanted() -> set[int]:
    common = gb2312_level1()
    text = common + opencc.OpenCC("s2t").convert(common) + opencc.OpenCC("s2tw").convert(common)
    text += PUNCTUATION + "".join(chr(c) for c in range(0x20, 0x7F))
    text += "".join(chr(c) for c in range(0xA0, 0x100))
    for path in SOURCES:
        text += path.read_text(encoding="utf-8")
    return {ord(c) for c in text if c.isprintable() or c == "\u3000"}


def rename(font: object) -> None:
    names = font["name"]  # type: ignore[index]
    for record in names.names:
        if record.nameID in (1, 16):
            record.string = FAMILY
        elif record.nameID == 4:
            record.string = f"{FAMILY} Regular"
        elif record.nameID == 6:
            record.string = FAMILY.replace(" ", "") + "-Regular"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("ttc", help="NotoSansCJK-Regular.ttc (Debian package fonts-noto-cjk)")
    parser.add_argument("--out", default=str(TARGET))
    args = parser.parse_args()
    collection = TTCollection(args.ttc)
    font = next(f for f in collection.fonts if f["name"].getDebugName(4) == "Noto Sans CJK SC")
    options = subset.Options()
    options.layout_features = ["kern", "palt", "vert"]
    options.name_IDs = ["*"]
    options.notdef_outline = True
    options.hinting = False
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes=wanted())
    subsetter.subset(font)
    rename(font)
    font.recalcTimestamp = False  # the same sources give the same file
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    font.save(args.out)
    print(f"{args.out}: {Path(args.out).stat().st_size:,} bytes")


if __name__ == "__main__":
    main()
