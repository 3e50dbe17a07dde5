"""Decide what a file's bytes are before anything parses them."""

from __future__ import annotations

from assistant.errors import UnreadableFile

_MAGIC = (
    (b"%PDF-", "PDF"),
    (b"PK\x03\x04", "zip archive"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "OLE compound file (legacy .doc or encrypted Office file)"),
    (b"\x89PNG\r\n\x1a\n", "PNG image"),
    (b"\xff\xd8\xff", "JPEG image"),
    (b"GIF8", "GIF image"),
    (b"\x7fELF", "ELF executable"),
    (b"\x1f\x8b", "gzip archive"),
    (b"7z\xbc\xaf\x27\x1c", "7-zip archive"),
    (b"Rar!", "RAR archive"),
)

_BOMS = (
    (b"\xef\xbb\xbf", "utf-8-sig"),
    (b"\xff\xfe", "utf-16-le"),
    (b"\xfe\xff", "utf-16-be"),
)


def sniff(data: bytes) -> str | None:
    """Name the binary format the bytes start with, if they are a known one."""
    for magic, name in _MAGIC:
        if data.startswith(magic):
            return name
    return None


def decode_text(data: bytes) -> tuple[str, str]:
    """Decode text in UTF-8 (with or without BOM), UTF-16 with BOM, GBK or GB18030.

    Returns ``(text, encoding)``; raises :class:`UnreadableFile` with a one-line
    reason for empty, binary or undecodable input.
    """
    if not data:
        raise UnreadableFile("empty file")
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return _checked(data.decode(encoding).removeprefix("\ufeff"), encoding)
            except UnicodeDecodeError as exc:
                raise UnreadableFile(f"starts with a {encoding} byte-order mark but is not {encoding}: {exc.reason}") from None
    kind = sniff(data)
    if kind is not None:
        raise UnreadableFile(f"binary file ({kind}), not text")
    if b"\x00" in data[:65536]:
        raise UnreadableFile("binary file (NUL bytes), not text")
    for encoding in ("utf-8", "gbk", "gb18030"):
        try:
            return _checked(data.decode(encoding), encoding)
        except UnicodeDecodeError:
            continue
    raise UnreadableFile("not text in UTF-8, GBK or GB18030")


def _checked(text: str, encoding: str) -> tuple[str, str]:
    if not text.strip():
        raise UnreadableFile("no text (only whitespace)")
    sample = text[:65536]
    controls = sum(1 for ch in sample if ord(ch) < 32 and ch not in "\t\n\r\f\v")
    if controls > max(8, len(sample) // 100):
        raise UnreadableFile(f"binary file ({controls} control characters in the first {len(sample)}), not text")
    return text.replace("\r\n", "\n").replace("\r", "\n"), encoding
