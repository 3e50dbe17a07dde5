"""Sentence-level excerpts: verbatim pieces, a list item with its lead-in, a lead-in with its items."""

from __future__ import annotations

from assistant.extract import coverage, excerpt, expanded_weights, sentences
from assistant.models import Chunk, Kind, Line
from assistant.text import MASKED

# written for this test in the shape of a statute article: a lead-in, four items, two more 款
ARTICLE = ("对于符合下列条件的申请人，审查机关可以决定准予登记，对其中年满七十周岁的申请人，应当优先办理：\n"
           "（一）材料齐全；\n（二）有固定住所；\n（三）没有未缴清的罚款；\n（四）登记对周边居民没有重大不良影响。\n"
           "准予登记的，审查机关应当在十五日内发给证书，并书面告知申请人。\n"
           "申请人对决定不服的，可以在收到决定之日起六十日内申请复议。")


def chunk(text: str, kind: Kind = Kind.statute) -> Chunk:
    return Chunk("c1", "d1", 0, "第九条", "《示例法》第九条", text, kind, Line.general, "示例法", "示例法#第九条")


def test_items_know_their_lead_in():
    found = sentences(ARTICLE)
    assert found[0].colon and not found[0].item
    assert [s.lead_in for s in found[1:5]] == [0, 0, 0, 0] and all(s.item for s in found[1:5])
    assert not found[5].item and found[5].lead_in is None


def test_an_item_is_quoted_with_its_lead_in():
    piece = excerpt(chunk(ARTICLE), {"罚款": 3.0, "缴清": 2.0}, "还有罚款没交能登记吗")
    assert piece.pieces()[0].startswith("对于符合下列条件的申请人") and piece.pieces()[-1].startswith("（三）")
    assert piece.quoted().startswith("“对于符合下列条件") and "……“（三）没有未缴清的罚款；" in piece.quoted()
    assert all(p in ARTICLE for p in piece.pieces()) and piece.quote in ARTICLE


def test_a_lead_in_brings_its_items():
    piece = excerpt(chunk(ARTICLE), {"优先": 3.0, "七十周岁": 3.0}, "七十岁的人能优先办理吗")
    assert piece.quote.startswith("对于符合下列条件") and piece.quote.endswith("没有重大不良影响。")
    assert "\n" not in piece.quoted() and piece.quoted().count("“") == 1


def test_the_sentence_that_answers_is_chosen_not_the_first():
    piece = excerpt(chunk(ARTICLE), {"复议": 3.0, "不服": 2.0}, "对决定不服怎么办")
    assert piece.quote == "申请人对决定不服的，可以在收到决定之日起六十日内申请复议。"
    assert piece.score == 1.0


def test_a_named_paragraph_is_quoted_whole():
    piece = excerpt(chunk(ARTICLE), {"证书": 1.0}, "示例法第九条第二款")
    assert piece.quote == "准予登记的，审查机关应当在十五日内发给证书，并书面告知申请人。"


def test_a_short_provision_is_quoted_whole_and_a_masked_sentence_never():
    short = "申请人应当如实提交材料。审查机关应当及时审查。"
    assert excerpt(chunk(short), {"审查": 1.0}, "怎么审查").quote == short
    masked = f"申请人应当如实提交材料。{MASKED}审查机关应当及时审查。"
    piece = excerpt(chunk(masked), {"材料": 1.0, "审查": 1.0}, "材料怎么审查")
    assert MASKED not in piece.quote and all(p in masked for p in piece.pieces())


def test_layperson_words_count_through_their_legal_terms():
    weights = expanded_weights({"坐牢": 2.0}, "孩子会坐牢吗", {"坐牢": "有期徒刑 拘役", "孩子": "未成年人"},
                               lambda term: 4.0)
    assert weights["有期徒刑"] == weights["未成年人"] < 4.0 and "坐牢" in weights
    assert coverage("未成年人犯罪的，可以判处有期徒刑", weights) > coverage("坐在椅子上", weights)


def test_an_item_of_a_real_article_reads_with_its_lead_in(statute_records):
    record = next(r for r in statute_records if r["id"] == "刑事诉讼法#第十六条")
    article = chunk(record["text"])
    piece = excerpt(article, {"追诉时效": 6.0, "期限": 2.0}, "犯罪已过追诉时效期限的还追究吗")
    first, last = piece.pieces()[0], piece.pieces()[-1]
    assert first.startswith("有下列情形之一的") and first.endswith("：")
    assert last.startswith("（二）") and "追诉时效" in last
    assert piece.quoted().count("“") == 2 and "……" in piece.quoted()
