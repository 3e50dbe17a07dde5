"""Chinese numerals as used in article numbers (第一百三十三条之一, 第二款)."""

from __future__ import annotations

_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_UNITS = {"十": 10, "百": 100, "千": 1000, "万": 10000}


def cn_to_int(text: str) -> int:
    """'一百三十三' -> 133, '十' -> 10, '1165' -> 1165. Raises ValueError otherwise."""
    text = text.strip()
    if text.isdigit():
        return int(text)
    if not text:
        raise ValueError("empty numeral")
    total, section, digit = 0, 0, None
    for ch in text:
        if ch in _DIGITS:
            digit = _DIGITS[ch]
        elif ch in _UNITS:
            unit = _UNITS[ch]
            if unit == 10000:
                total = (total + section + (digit or 0)) * unit
                section, digit = 0, None
            else:
                section += (1 if digit is None else digit) * unit
                digit = None
        else:
            raise ValueError(f"not a Chinese numeral: {text!r}")
    return total + section + (digit or 0)


def int_to_cn(number: int) -> str:
    """133 -> '一百三十三', 10 -> '十', 1165 -> '一千一百六十五' (as laws number articles)."""
    if number < 0 or number >= 100000:
        raise ValueError(f"out of range: {number}")
    if number == 0:
        return "零"
    digits = "零一二三四五六七八九"
    parts: list[str] = []
    zero_pending = False
    for value, name in ((10000, "万"), (1000, "千"), (100, "百"), (10, "十"), (1, "")):
        d, number = divmod(number, value)
        if d:
            if zero_pending:
                parts.append("零")
            parts.append(digits[d] + name)
            zero_pending = False
        elif parts:
            zero_pending = True
    text = "".join(parts)
    return text[1:] if text.startswith("一十") else text
