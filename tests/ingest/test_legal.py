"""Legal structure on real statutes and guiding cases from ../shared/data."""

import pytest

from assistant.config import IngestSettings
from assistant.ingest.chunking import chunk_document, pack, split_sentences
from assistant.ingest.formats import Extracted
from assistant.ingest.legal import article_sort_key, parse_statute_text
from assistant.ingest.loaders import LoadOptions, document_from_text, load_file
from assistant.models import Document, Kind
from assistant.numerals import cn_to_int, int_to_cn
from tests.conftest import write_jsonl


def law(records: list[dict], short: str) -> list[dict]:
    return [r for r in records if r["law_short"] == short]


def lawrefbook_markdown(records: list[dict]) -> str:
    """Rebuild a LawRefBook-style Markdown file from the article records (at test time)."""
    out = [f"# {records[0]['law_title']}", "", "2020年12月26日修正", "", "<!-- INFO END -->", ""]
    last = (None, None, None)
    for r in records:
        for level, key in ((2, "part"), (3, "chapter"), (4, "section")):
            idx = level - 2
            if r[key] and r[key] != last[idx]:
                out += ["#" * level + " " + r[key], ""]
        last = (r["part"], r["chapter"], r["section"])
        paragraphs = r["text"].split("\n")
        out.append(f"{r['article_label']} {paragraphs[0]}")
        out += ["", *(p + "\n" for p in paragraphs[1:])]
    return "\n".join(out)


def test_numerals_round_trip():
    for n in [1, 10, 11, 20, 101, 110, 133, 1000, 1165, 1260]:
        assert cn_to_int(int_to_cn(n)) == n
    assert cn_to_int("一百三十三") == 133 and int_to_cn(10) == "十" and int_to_cn(110) == "一百一十"
    assert article_sort_key("第一百三十三条之一") == (133, 1)


def test_statute_markdown_is_cut_per_article_with_breadcrumbs(statute_records):
    records = law(statute_records, "刑法")
    doc = document_from_text(Extracted(lawrefbook_markdown(records)), doc_id="刑法.md", source="x",
                             fallback_title="刑法", options=LoadOptions(kind=Kind.statute))
    assert doc.title == "中华人民共和国刑法"
    assert [u.locator for u in doc.units] == [r["article_label"] for r in records]
    by_label = {u.locator: u for u in doc.units}
    for r in records:
        unit = by_label[r["article_label"]]
        assert "\n".join(unit.paragraphs) == r["text"]
        assert unit.source_id == r["id"]  # 刑法#第二十条, as in statutes.jsonl
        assert unit.citation == f"《刑法》{r['article_label']}"
    record = next(r for r in records if r["article_label"] == "第二十条")
    assert by_label["第二十条"].breadcrumb == ("中华人民共和国刑法", record["part"], record["chapter"], record["section"])
    assert "第一百三十三条之一" in by_label  # 之一 articles are their own units


def test_statute_kind_is_inferred_and_source_typos_cope():
    text = "第一条 总则一。\n第二条 总则二。\n第一百二十八 条 违反枪支管理规定。\n第一百二十八条之一 另一条。"
    units = parse_statute_text(text, title="某法", short="某法", law_id="某法")
    assert [u.locator for u in units] == ["第一条", "第二条", "第一百二十八条", "第一百二十八条之一"]
    doc = document_from_text(Extracted(text), doc_id="a.txt", source="a", fallback_title="某法", options=LoadOptions())
    assert doc.kind is Kind.statute


def test_article_reference_inside_a_paragraph_does_not_start_an_article():
    text = "第一条 甲。\n第二条 依照本法第一条规定处理。\n第一条规定的情形除外。"
    units = parse_statute_text(text, title="某法", short="某法", law_id="某法")
    assert [u.locator for u in units] == ["第一条", "第二条"]
    assert units[1].paragraphs[-1] == "第一条规定的情形除外。"


def test_jsonl_statutes_long_articles_split_per_paragraph(statute_records, tmp_path):
    path = write_jsonl(tmp_path / "s.jsonl", law(statute_records, "刑法"))
    [doc] = [d for d in load_file(path, root=tmp_path, options=LoadOptions(), settings=IngestSettings())]
    assert isinstance(doc, Document) and doc.doc_id == "刑法" and doc.kind is Kind.statute
    chunks = chunk_document(doc, target=120, hard_max=2000)
    twenty = [c for c in chunks if c.source_id == "刑法#第二十条"]
    record = next(r for r in statute_records if r["id"] == "刑法#第二十条")
    paragraphs = record["text"].split("\n")
    assert [c.citation for c in twenty] == ["《刑法》第二十条第一款", "《刑法》第二十条第二款", "《刑法》第二十条第三款"]
    assert [c.text for c in twenty] == paragraphs
    assert twenty[0].breadcrumb[0] == "中华人民共和国刑法"
    # a short article stays whole under its article label
    first = [c for c in chunks if c.source_id == "刑法#第一条"]
    assert len(first) == 1 and first[0].citation == "《刑法》第一条"


def test_items_stay_with_their_paragraph(statute_records, tmp_path):
    # 刑法 第六十七条-like shapes: a 款 that lists （一）（二）… keeps its items
    records = law(statute_records, "刑事诉讼法")
    with_items = next(r for r in records if "\n（一）" in r["text"] and r["text"].count("\n") >= 3)
    path = write_jsonl(tmp_path / "s.jsonl", [with_items])
    [doc] = list(load_file(path, root=tmp_path, options=LoadOptions(), settings=IngestSettings()))
    chunks = chunk_document(doc, target=80, hard_max=2000)
    for chunk in chunks:
        assert not chunk.text.startswith(("（一）", "（二）")), chunk.citation
    assert "\n".join(c.text for c in chunks) == with_items["text"]


def test_every_statute_chunk_stays_inside_its_article(statute_records, tmp_path):
    sample = statute_records[::40]
    path = write_jsonl(tmp_path / "s.jsonl", sample)
    texts = {r["id"]: r["text"] for r in sample}
    docs = [d for d in load_file(path, root=tmp_path, options=LoadOptions(), settings=IngestSettings())]
    assert all(isinstance(d, Document) for d in docs)
    for doc in docs:
        for chunk in chunk_document(doc):
            assert chunk.text in texts[chunk.source_id], chunk.citation
    interpretations = [d for d in docs if d.kind is Kind.interpretation]
    assert interpretations, "judicial interpretations are kind=interpretation"


def test_guiding_case_sections_labels_and_source_ids(case_records, tmp_path):
    record = next(r for r in case_records if r["case_no"] == "检例第45号")
    path = write_jsonl(tmp_path / "cases.jsonl", [record])
    [doc] = list(load_file(path, root=tmp_path, options=LoadOptions(), settings=IngestSettings()))
    assert doc.doc_id == "SPP-检例第45号" and doc.kind is Kind.case and doc.guiding
    assert doc.title == "陈某正当防卫案" and "正当防卫" in doc.tags
    chunks = chunk_document(doc)
    labels = [c.citation for c in chunks]
    assert labels[0] == "检例第45号·要旨" and chunks[0].text == record["key_points"]
    assert "检例第45号·基本案情" in labels and "检例第45号·指导意义" in labels and "检例第45号·相关规定" in labels
    assert all(c.source_id == "SPP-检例第45号" for c in chunks)
    sections = {"要旨": record["key_points"], "基本案情": record["facts"], "指导意义": record["guidance"],
                **{s["heading"]: s["text"] for s in record["sections"]}}
    for chunk in chunks:
        if chunk.locator != "相关规定":
            assert chunk.text in sections[chunk.locator], f"{chunk.citation} crosses its section"


def test_spc_cases_use_their_own_labels(case_records, tmp_path):
    record = next(r for r in case_records if r["issuer"] == "SPC")
    [doc] = list(load_file(write_jsonl(tmp_path / "c.jsonl", [record]), root=tmp_path, options=LoadOptions(),
                           settings=IngestSettings()))
    assert doc.units[0].citation == f"{record['case_no']}·裁判要点"


def test_all_guiding_cases_chunk_within_sections(case_records, tmp_path):
    docs = list(load_file(write_jsonl(tmp_path / "c.jsonl", case_records), root=tmp_path, options=LoadOptions(),
                          settings=IngestSettings()))
    assert len(docs) == len(case_records) and all(isinstance(d, Document) for d in docs)
    for doc in docs:
        whole = {u.locator: "\n".join(u.paragraphs) for u in doc.units}
        for chunk in chunk_document(doc):
            assert chunk.text in whole[chunk.locator]
            assert len(chunk.text) <= 2000


def test_case_markdown_with_bracket_sections():
    text = ("---\ntitle: 张某盗窃案\ncase_no: 教学案例第1号\nkind: case\n---\n"
            "【关键词】 盗窃 认罪认罚 不起诉\n【要旨】\n犯罪情节轻微的，可以作出不起诉决定。\n"
            "【基本案情】\n张某盗窃价值八百元的财物。案发后退赃。\n## 指导意义\n依法适用相对不起诉。")
    doc = document_from_text(Extracted(text), doc_id="cases/1.md", source="x", fallback_title="1", options=LoadOptions())
    assert doc.tags == ("盗窃", "认罪认罚", "不起诉")
    assert [u.citation for u in doc.units] == ["教学案例第1号·要旨", "教学案例第1号·基本案情", "教学案例第1号·指导意义"]
    assert not doc.guiding


@pytest.mark.parametrize("target", [30, 60, 120])
def test_materials_are_cut_at_sentence_ends_never_mid_sentence(target):
    paragraph = "检察机关应当审查证据。证据不足的，不得起诉！是否可以补充侦查？可以；但以两次为限。最后一句没有标点"
    sentences = split_sentences(paragraph)
    pieces = pack([paragraph], target=target, hard_max=2000)
    assert "".join(pieces) == paragraph
    for piece in pieces:
        # every piece is a run of whole sentences
        assert any(piece.startswith(s) for s in sentences) and any(piece.endswith(s) for s in sentences)


def test_hard_cap_on_a_sentence_without_punctuation():
    long = "无" * 5000
    pieces = pack([long], target=400, hard_max=2000)
    assert [len(p) for p in pieces] == [2000, 2000, 1000]
