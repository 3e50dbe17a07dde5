"""A published expert answer as a document: kind qa, one unit cited by its own label, ranked
below statutes, interpretations and cases and above training material."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from assistant.config import IngestSettings
from assistant.experts.review import qa_markdown
from assistant.ingest.loaders import LoadOptions, load_file
from assistant.models import AUTHORITY, Document, Kind, Line
from assistant.rank import FEATURES, features


def test_the_published_markdown_loads_as_one_qa_unit_with_its_label(tmp_path: Path):
    row = {"text": "洗钱罪中自洗钱行为如何认定", "line": "criminal"}
    cites = [{"n": 1, "label": "《审查逮捕条件清单》·一、证据条件"}]
    text = qa_markdown(row, "首先要求“有证据证明发生了犯罪事实”[1]。", cites, label="检答·第7号", access=["刑事检察部"])
    path = tmp_path / "qa.md"
    path.write_text(text, encoding="utf-8")
    (doc,) = load_file(path, root=tmp_path, options=LoadOptions(), settings=IngestSettings())
    assert isinstance(doc, Document) and doc.kind is Kind.qa and doc.line is Line.criminal
    assert doc.access == ("刑事检察部",) and [u.citation for u in doc.units] == ["检答·第7号"]
    body = "\n".join(doc.units[0].paragraphs)
    assert body.startswith("问：洗钱罪中自洗钱行为如何认定") and "（《审查逮捕条件清单》·一、证据条件）" in body
    assert "[1]" not in body
    open_to_all = qa_markdown(row, "答。", [], label="检答·第8号", access=[])
    path.write_text(open_to_all, encoding="utf-8")
    (doc,) = load_file(path, root=tmp_path, options=LoadOptions(access=("民事检察部",)), settings=IngestSettings())
    assert doc.access == ()  # everyone, whatever the uploader's default


def test_qa_ranks_between_cases_and_training_material():
    order = ["statute", "interpretation", "guiding_case", "case", "qa", "material"]
    assert [AUTHORITY[k] for k in order] == sorted(AUTHORITY[k] for k in order)
    assert len({AUTHORITY[k] for k in order}) == len(order)


def test_the_rankers_authority_feature_is_as_it_was_fitted():
    """qa took material's old rank and material moved one down: the shipped ranker's feature
    (authority / 4, fitted when material was 4) still sees material as it did, and qa as material."""
    kinds = ["statute", "case", "qa", "material"]
    rows = list(range(len(kinds)))
    found = {r: (r, 1.0) for r in rows}
    matrix = features(rows, keyword=found, vector=found, hints={}, expansion={}, article_prior={}, law_prior={},
                      authority=np.array([AUTHORITY[k] for k in kinds]), law=np.zeros(len(kinds)))
    assert matrix[:, FEATURES.index("authority")].tolist() == [0.0, 0.75, 1.0, 1.0]
