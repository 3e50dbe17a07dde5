import pytest

from assistant.errors import UnreadableFile
from assistant.ingest.detect import decode_text

TEXT = "第二十条　为了使国家、公共利益、本人或者他人的人身、财产和其他权利免受正在进行的不法侵害。"


@pytest.mark.parametrize(
    ("data", "encoding"),
    [
        (TEXT.encode("utf-8"), "utf-8"),
        (b"\xef\xbb\xbf" + TEXT.encode("utf-8"), "utf-8-sig"),
        (TEXT.encode("gbk"), "gbk"),
        (b"\xff\xfe" + TEXT.encode("utf-16-le"), "utf-16-le"),
    ],
)
def test_encodings_are_detected_and_named(data, encoding):
    text, found = decode_text(data)
    assert text == TEXT
    assert found == encoding


def test_gb18030_only_characters():
    text = TEXT + "𠮷㐀"  # outside GBK: only GB18030 can encode them
    with pytest.raises(UnicodeEncodeError):
        text.encode("gbk")
    decoded, found = decode_text(text.encode("gb18030"))
    assert (decoded, found) == (text, "gb18030")


def test_crlf_becomes_newline():
    assert decode_text("甲\r\n乙\r丙".encode())[0] == "甲\n乙\n丙"


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty file"),
        (b"  \n\t\n", "only whitespace"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "PNG image"),
        (b"abc\x00def" * 10, "NUL bytes"),
        (bytes(range(1, 32)) * 40, "control characters"),
        (b"\xff\xfe\x00\xd8", "utf-16-le"),
    ],
)
def test_unreadable_bytes_get_a_one_line_reason(data, reason):
    with pytest.raises(UnreadableFile, match=reason) as info:
        decode_text(data)
    assert "\n" not in str(info.value)
