from assistant.index.crimes import CrimeNames

# the two shapes the 罪名 documents use (wording as in the SPP 意见 and the courts' 补充规定)
OPINION = """## 第二章 危害公共安全罪
13．放火罪（第114条、第115条第1款） 31．组织、领导、参加恐怖组织罪（第120条）
## 第五章 侵犯财产罪
1．盗窃罪（第264条） 2．诈骗罪（第266条） 3．合同诈骗罪（第224条）"""
SUPPLEMENT = """| 刑法条文 |罪名 |
|-----|-----|
| 第120条之一（《修正案（三）》第4条） |资助恐怖活动罪 |
| 第114条、第115条第1款（《修正案（三）》第1、2条） |投放危险物质罪（取消投毒罪罪名） |"""


def test_names_are_mined_from_both_shapes_without_the_amendments_they_cite():
    crimes = CrimeNames.mine([OPINION, SUPPLEMENT])
    assert crimes.names["放火罪"] == ("刑法#第一百一十四条", "刑法#第一百一十五条")
    assert crimes.names["组织、领导、参加恐怖组织罪"] == ("刑法#第一百二十条",)
    assert crimes.names["资助恐怖活动罪"] == ("刑法#第一百二十条之一",)  # not 第四条 of the 修正案
    assert crimes.names["投放危险物质罪"] == ("刑法#第一百一十四条", "刑法#第一百一十五条")


def test_the_longest_name_wins_and_articles_come_in_order_of_mention():
    crimes = CrimeNames.mine([OPINION])
    found = crimes.find("被告人以涉嫌合同诈骗罪被起诉，后又查明其盗窃罪")
    assert found == ["刑法#第二百二十四条", "刑法#第二百六十四条"]
    assert crimes.find("构成诈骗罪") == ["刑法#第二百六十六条"]
    assert crimes.find("罪名不明的问题") == [] and crimes.find("") == []


def test_without_the_documents_the_map_is_empty():
    crimes = CrimeNames.mine(["第一条 为了保护……，制定本法。"])
    assert len(crimes) == 0 and crimes.find("盗窃罪") == []
