import numpy as np

from assistant.index.keyword import KeywordIndex, lay_terms, shared_tokenizer


def test_legal_dictionary_keeps_terms_whole():
    tokens = shared_tokenizer().tokens("犯罪嫌疑人认罪认罚的，检察机关可以作出附条件不起诉决定，并开展羁押必要性审查。")
    for term in ("认罪认罚", "附条件不起诉", "羁押必要性审查"):
        assert term in tokens
    assert "的" not in tokens


def test_article_numbers_are_not_keywords():
    tokens = shared_tokenizer().tokens("刑诉法第一百七十六条第二款")
    assert "刑诉法" in tokens
    assert not any(t.startswith("第") or t.endswith("条") for t in tokens)


def test_lay_terms_table():
    table = lay_terms()
    assert "有期徒刑" in table["坐牢"] and "未成年人" in table["孩子"]


def test_build_save_load_and_mask(tmp_path):
    tok = shared_tokenizer()
    texts = {"a": "正当防卫明显超过必要限度", "b": "盗窃公私财物数额较大", "c": "防卫过当应当负刑事责任"}
    index = KeywordIndex.build(list(texts), [tok.tokens(t) for t in texts.values()], generation=7)
    query = tok.tokens("防卫")
    scores = index.scores(query)
    assert scores[0] > 0 and scores[2] > 0 and scores[1] == 0
    masked = index.scores(query, np.array([0, 1, 1], dtype=np.float32))
    assert masked[0] == 0 and masked[2] > 0
    index.save(tmp_path / "kw")
    loaded = KeywordIndex.load(tmp_path / "kw")
    assert loaded.generation == 7 and loaded.ids == ["a", "b", "c"]
    assert np.allclose(loaded.scores(query), scores)
    index.save(tmp_path / "kw")  # saving over an existing index replaces it whole
    assert KeywordIndex.load(tmp_path / "kw").ids == ["a", "b", "c"]
    assert index.scores(["从未出现"]).sum() == 0


def test_a_broken_saved_index_is_ignored(tmp_path):
    (tmp_path / "kw").mkdir()
    (tmp_path / "kw" / "manifest.json").write_text("{not json")
    assert KeywordIndex.load(tmp_path / "kw") is None
