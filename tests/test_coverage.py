"""The support score's parts: the foreign-law rule, legal specificity, the shipped model."""

from __future__ import annotations

import json

import pytest

from assistant.config import AnswerSettings
from assistant.coverage import (
    FEATURES,
    SUPPORT_JSON_NAME,
    about_foreign_law,
    legal_specificity,
    shipped_model,
    support_features,
)
from assistant.index.keyword import KeywordIndex, shared_tokenizer
from assistant.models import Chunk, Hit, Kind, Line


@pytest.mark.parametrize("question", [
    "日本刑法对盗窃罪怎么规定", "美国的米兰达警告是什么", "英国的普通法和大陆法有什么区别", "新加坡的鞭刑适用于哪些犯罪",
    "欧盟的数据保护条例GDPR有哪些要求", "德国基本法规定了哪些基本权利",
    "澳大利亚议会的选举制度", "韩国检察厅怎么起诉", "美国警察的执法权限",
])
def test_questions_about_foreign_law_are_recognised(question):
    assert about_foreign_law(question)


@pytest.mark.parametrize("question", [
    "外国人在我国犯罪怎么处理", "美国人在中国打人会被判刑吗", "境外犯罪的刑事责任", "虚构网上购物合同并使用境外信用卡信息非法占有他人财物，是否属于诈骗？",
    "日本刑法和中国刑法的区别", "外国法律的查明由谁负责", "美国公司在我国设立子公司需要什么审批",
    "日本籍船员在我国领海走私怎么处理",
])
def test_chinese_law_about_foreigners_is_not_foreign_law(question):
    assert not about_foreign_law(question)


def test_legal_words_are_more_specific_than_everyday_words():
    tokenizer = shared_tokenizer()
    texts = ["当事人可以请求人民法院判令侵权人承担赔偿责任。", "犯罪嫌疑人认罪认罚的，可以依法从宽处理。",
             "债务人不履行到期债务的，债权人有权请求赔偿。", "今天的会议记录由办公室负责。"]
    index = KeywordIndex.build([f"c{i}" for i in range(len(texts))], [tokenizer.tokens(t) for t in texts], generation=1)
    legal = legal_specificity("赔偿", index, tokenizer)
    everyday = legal_specificity("今天", index, tokenizer)
    assert legal is not None and everyday is not None and legal > everyday
    assert legal_specificity("认罪认罚", index, tokenizer) == 8.0  # a legal-dictionary word: unseen in general Chinese
    assert legal_specificity("红烧肉", index, tokenizer) is None  # no passage has it


def test_the_shipped_model_and_the_default_threshold_agree():
    from importlib import resources

    data = json.loads((resources.files("assistant.resources") / SUPPORT_JSON_NAME).read_text(encoding="utf-8"))
    assert tuple(data["features"]) == FEATURES
    assert AnswerSettings().min_support == data["threshold"], "re-run python -m evals.answers --fit and copy the threshold"
    model = shipped_model()
    legal = (1.0, 0.7, 8.0, 0.8, 6.0, 0.9)  # known, nearest, legal, together, legal_mean, legal_share
    everyday = (0.3, 0.1, -4.0, 0.1, -3.0, 0.0)
    assert model(legal) > AnswerSettings().min_support > model(everyday)


def test_layperson_words_count_as_the_legal_terms_they_stand_for():
    tokenizer = shared_tokenizer()
    texts = ["不满十八周岁的未成年人犯罪，应当从轻或者减轻处罚。", "被判处拘役、三年以下有期徒刑的犯罪分子，可以宣告缓刑。",
             "当事人应当按照约定履行合同义务。"]
    index = KeywordIndex.build([f"c{i}" for i in range(len(texts))], [tokenizer.tokens(t) for t in texts], generation=1)
    hits = [Hit(Chunk(f"c{i}", "d", i, "第一条", "《示例法》第一条", t, Kind.statute, Line.criminal, "示例法"), 1.0, i + 1,
                {"vector": 0.5}) for i, t in enumerate(texts)]
    weights = {"孩子": 8.0, "坐牢": 11.0, "犯罪": 2.5}
    plain = support_features(weights, hits, keyword=index, tokenizer=tokenizer)
    lay = support_features(weights, hits, keyword=index, tokenizer=tokenizer,
                           lay={"孩子": "未成年人 子女", "坐牢": "有期徒刑 拘役"})
    assert len(lay) == len(FEATURES)
    known, legal, together = FEATURES.index("known"), FEATURES.index("legal_share"), FEATURES.index("together")
    assert plain[known] < 0.2 and lay[known] == 1.0  # 孩子 and 坐牢 are known through 未成年人 and 有期徒刑
    assert lay[legal] > plain[legal] and lay[together] > plain[together]


SECRET = ("---\ntitle: 翡翠原石走私案内部口径\nkind: case\ncase_no: 检例第99号\nline: criminal\n"
          "access: [刑事检察部]\n---\n"
          "# 翡翠原石走私案内部口径\n\n## 要旨\n\n翡翠原石经边境口岸夹藏入境的，走私数额按海关核定的计税价格认定。\n\n"
          "## 基本案情\n\n某乙雇人将翡翠原石藏于货车夹层，经瑞丽口岸入境，案号（2024）内检走私9号。\n")


def test_what_a_reader_is_told_about_coverage_does_not_depend_on_material_they_may_not_read(tmp_path):
    """A restricted case with words nothing else has: for another department the support score,
    the words' weights and a named case number come out as if it were not there."""
    import shutil

    from assistant.config import load_settings
    from assistant.index.embedders import HashEmbedder
    from assistant.models import Principal
    from assistant.service import build_assistant
    from tests.conftest import CORPUS

    def corpus_with(secret: bool):
        folder = tmp_path / ("with" if secret else "without")
        shutil.copytree(CORPUS, folder / "corpus")
        if secret:
            (folder / "corpus" / "检例第99号-翡翠原石走私案.md").write_text(SECRET, encoding="utf-8")
        a = build_assistant(load_settings(data_dir=folder / "data", embedder={"name": "hash-64"}),
                            embedder=HashEmbedder(64))
        a.ingest([folder / "corpus"])
        return a

    with_secret, without = corpus_with(True), corpus_with(False)
    outsider = Principal(user="min", role="learner", departments=("民事检察部",))
    insider = Principal(user="xing", role="learner", departments=("刑事检察部",))
    question = "翡翠原石经瑞丽口岸夹藏入境，走私数额怎么认定"
    told = with_secret.answerer.coverage(question, principal=outsider)
    assert told == without.answerer.coverage(question, principal=outsider)
    assert with_secret.answerer.terms(question, principal=outsider) == without.answerer.terms(question, principal=outsider)
    assert with_secret.answerer.coverage(question, principal=insider) != told  # where it may be read, it counts
    asked = with_secret.ask("检例第99号的要旨是什么", principal=outsider)  # as if there were no such case
    assert asked.refusal == "资料中没有检例第99号。" == without.ask("检例第99号的要旨是什么", principal=outsider).refusal
    assert not with_secret.ask("检例第99号的要旨是什么", principal=insider).refused
