"""Format readers: bytes of one file -> plain text with Markdown-style headings.

Each reader raises :class:`UnreadableFile` with a one-line reason; nothing here
knows about legal structure.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from html.parser import HTMLParser

from assistant.config import IngestSettings
from assistant.errors import UnreadableFile
from assistant.ingest.detect import decode_text, sniff
from assistant.ingest.frontmatter import FrontMatter, split_front_matter
from assistant.text import drop_controls


@dataclass(frozen=True, slots=True)
class Extracted:
    text: str
    encoding: str | None = None
    title: str | None = None
    tags: tuple[str, ...] = ()
    front: FrontMatter | None = None  # set when the reader had to take it off before parsing


def read_plain(data: bytes) -> Extracted:
    text, encoding = decode_text(data)
    return Extracted(text, encoding)


# --- HTML -----------------------------------------------------------------------------

_BLOCK = {"p", "div", "br", "li", "tr", "section", "article", "blockquote", "pre", "table", "ul", "ol", "dd", "dt"}
_SKIP = {"script", "style", "template", "noscript", "head", "svg", "iframe", "object"}
_VOID = {"br", "img", "hr", "meta", "link", "input", "wbr", "source", "area", "base", "col", "embed", "param", "track"}


class _TextExtractor(HTMLParser):
    """Visible text only: comments, scripts, styles and hidden elements are dropped."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.title: list[str] = []
        self._skip_depth = 0
        self._stack: list[tuple[str, bool]] = []
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _VOID:
            if tag == "br":
                self.out.append("\n")
            return
        attributes = {k: (v or "") for k, v in attrs}
        style = attributes.get("style", "").replace(" ", "").lower()
        hidden = (
            tag in _SKIP
            or "hidden" in attributes
            or attributes.get("aria-hidden") == "true"
            or "display:none" in style
            or "visibility:hidden" in style
        )
        if tag == "title":
            self._in_title = True
        self._stack.append((tag, hidden))
        if hidden:
            self._skip_depth += 1
            return
        if tag in {"h1", "h2", "h3", "h4", "h5", "h6"}:
            self.out.append("\n" + "#" * int(tag[1]) + " ")
        elif tag in _BLOCK:
            self.out.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        # close up to the matching tag (HTML in the wild leaves tags open)
        for i in range(len(self._stack) - 1, -1, -1):
            if self._stack[i][0] == tag:
                for _, hidden in self._stack[i:]:
                    if hidden:
                        self._skip_depth -= 1
                del self._stack[i:]
                break
        if tag in _BLOCK or tag in {"h1", "h2", "h3", "h4", "h5", "h6"}:
            self.out.append("\n")

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title.append(data)
            return
        if self._skip_depth:
            return
        self.out.append(data.replace("\n", " ") if not self._stack or self._stack[-1][0] != "pre" else data)


def read_html(data: bytes) -> Extracted:
    text, encoding = decode_text(data)
    front, text = split_front_matter(text)
    parser = _TextExtractor()
    try:
        parser.feed(text)
        parser.close()
    except Exception as exc:  # html.parser is lenient; anything it raises means garbage
        raise UnreadableFile(f"HTML could not be parsed: {exc}") from None
    lines = [" ".join(line.split()) for line in "".join(parser.out).splitlines()]
    body = "\n".join(line for line in lines if line and line != "#")
    if not body.strip():
        raise UnreadableFile("HTML has no visible text")
    title = " ".join("".join(parser.title).split()) or None
    return Extracted(body, encoding, title, front=front)


# --- PDF ------------------------------------------------------------------------------

def read_pdf(data: bytes, settings: IngestSettings) -> Extracted:
    if not data:
        raise UnreadableFile("empty file")
    if not data.startswith(b"%PDF-"):
        raise UnreadableFile(f"not a PDF ({sniff(data) or 'no %PDF header'})")
    import logging

    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    logging.getLogger("pypdf").setLevel(logging.ERROR)
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            try:
                opened = reader.decrypt("")
            except Exception:
                opened = 0
            if not opened:
                raise UnreadableFile("encrypted PDF (needs a password); save an unprotected copy")
        pages = len(reader.pages)
        if pages > settings.max_pdf_pages:
            raise UnreadableFile(f"PDF has {pages} pages, more than the limit of {settings.max_pdf_pages}")
        texts = [page.extract_text() or "" for page in reader.pages]
        title = None
        if reader.metadata is not None and reader.metadata.title:
            title = str(reader.metadata.title).strip() or None
    except UnreadableFile:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, IndexError, OSError, RecursionError) as exc:
        raise UnreadableFile(f"corrupt PDF: {type(exc).__name__}: {str(exc)[:120]}") from None
    except Exception as exc:  # pypdf raises many internal types on broken files
        if type(exc).__module__.startswith("pypdf"):
            raise UnreadableFile(f"corrupt PDF: {type(exc).__name__}: {str(exc)[:120]}") from None
        raise
    text = join_wrapped_lines(drop_controls("\n".join(texts).replace("\r\n", "\n")))
    if not text.strip():
        raise UnreadableFile("PDF has no extractable text (a scan? run OCR first)")
    return Extracted(text, None, title)


_SENTENCE_END = tuple("。！？；：:!?;」』”）)】")


def join_wrapped_lines(text: str) -> str:
    """PDF text comes in visual lines; rejoin a sentence that a line break cut in two.

    A line is continued when it ends in a comma-like mark, or when it is long (a full
    printed line) and does not end a sentence.
    """
    out: list[str] = []
    for line in text.split("\n"):
        stripped = line.strip()
        if out and stripped and out[-1] and (
            out[-1].endswith(("，", "、", ",")) or (len(out[-1]) >= 30 and not out[-1].endswith(_SENTENCE_END))
        ):
            out[-1] += stripped
        else:
            out.append(stripped)
    return "\n".join(out)


# --- DOCX -----------------------------------------------------------------------------

def check_zip(data: bytes, settings: IngestSettings, *, required: str | None = None) -> None:
    """Refuse archives that are corrupt or would inflate out of proportion, before parsing them."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise UnreadableFile("corrupt zip container") from None
    with archive:
        infos = archive.infolist()
        if len(infos) > 5000:
            raise UnreadableFile(f"zip container has {len(infos)} entries; refusing (decompression bomb?)")
        total = 0
        for info in infos:
            total += info.file_size
            if info.flag_bits & 0x1:
                raise UnreadableFile("encrypted zip entry; save an unprotected copy")
            if info.file_size > 1_000_000 and info.file_size > settings.max_zip_ratio * max(info.compress_size, 1):
                raise UnreadableFile(
                    f"decompression bomb: {info.filename} inflates {info.file_size // max(info.compress_size, 1)}x"
                )
        if total > settings.max_unzipped_mb * 1024 * 1024:
            raise UnreadableFile(
                f"decompression bomb: entries inflate to {total // (1024 * 1024)} MB "
                f"(limit {settings.max_unzipped_mb:g} MB)"
            )
        if required and required not in archive.namelist():
            raise UnreadableFile(f"not a DOCX ({required} missing from the zip)")


def read_docx(data: bytes, settings: IngestSettings) -> Extracted:
    if not data:
        raise UnreadableFile("empty file")
    kind = sniff(data)
    if kind != "zip archive":
        raise UnreadableFile(f"not a DOCX ({kind or 'not a zip archive'})")
    check_zip(data, settings, required="word/document.xml")
    import docx
    from docx.opc.exceptions import PackageNotFoundError

    try:
        document = docx.Document(io.BytesIO(data))
    except (PackageNotFoundError, KeyError, ValueError, zipfile.BadZipFile) as exc:
        raise UnreadableFile(f"corrupt DOCX: {type(exc).__name__}: {str(exc)[:120]}") from None
    except Exception as exc:  # lxml syntax errors and friends
        raise UnreadableFile(f"corrupt DOCX: {type(exc).__name__}: {str(exc)[:120]}") from None
    lines: list[str] = []
    for block in _docx_blocks(document):
        lines.append(block)
    text = "\n".join(lines)
    if not text.strip():
        raise UnreadableFile("DOCX has no text")
    props = document.core_properties
    tags = tuple(t.strip() for t in (props.keywords or "").replace("，", ",").replace("；", ",").split(",") if t.strip())
    return Extracted(text, None, (props.title or "").strip() or None, tags)


def _docx_blocks(document) -> list[str]:
    """Paragraphs and tables in body order; Heading N / 标题 N styles become Markdown headings."""
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    out = []
    for item in document.iter_inner_content():
        if isinstance(item, Paragraph):
            text = item.text.strip()
            if not text:
                continue
            style = (item.style.name if item.style is not None else "") or ""
            level = _heading_level(style)
            out.append(("#" * level + " " + text) if level else text)
        elif isinstance(item, Table):
            for row in item.rows:
                cells = [c.text.strip() for c in row.cells]
                if any(cells):
                    out.append(" | ".join(dict.fromkeys(cells)))
    return out


def _heading_level(style: str) -> int:
    lowered = style.lower()
    if lowered == "title":
        return 1
    for prefix in ("heading ", "标题 "):
        if lowered.startswith(prefix) and lowered[len(prefix):].strip().isdigit():
            return min(int(lowered[len(prefix):]), 6)
    return 0
