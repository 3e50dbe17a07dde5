"""The support score's parts: the foreign-law rule, legal specificity, the shipped model."""

from __future__ import annotations

import json

import pytest

from assistant.config import AnswerSettings
from assistant.coverage import FEATURES, SUPPORT_JSON_NAME, about_foreign_law, legal_specificity, shipped_model
from assistant.index.keyword import KeywordIndex, shared_tokenizer


@pytest.mark.parametrize("question", [
    "日本刑法对盗窃罪怎么规定", "美国的米兰达警告是什么", "英国的普通法和大陆法有什么区别", "新加坡的鞭刑适用于哪些犯罪",
    "欧盟的数据保护条例GDPR有哪些要求", "德国基本法规定了哪些基本权利",
])
def test_questions_about_foreign_law_are_recognised(question):
    assert about_foreign_law(question)


@pytest.mark.parametrize("question", [
    "外国人在我国犯罪怎么处理", "美国人在中国打人会被判刑吗", "境外犯罪的刑事责任", "虚构网上购物合同并使用境外信用卡信息非法占有他人财物，是否属于诈骗？",
    "日本刑法和中国刑法的区别", "外国法律的查明由谁负责",
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
    assert model((1.0, 0.7, 8.0)) > AnswerSettings().min_support > model((0.3, 0.1, -4.0))
