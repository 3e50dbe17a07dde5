"""The legal vocabulary questions and distractors are made of: crime names and their chapter
groups, procuratorial decisions by stage, the subjects of proceedings, periods, and the word
pairs whose exchange turns a true statement into a false one without a negation word."""

from __future__ import annotations

import re
from functools import lru_cache
from importlib import resources

# procuratorial decisions the key points state, most specific first (不批准逮捕 before 批准逮捕 …)
DECISIONS: list[tuple[str, str, str]] = [
    ("不批准逮捕", r"不(予)?批准逮捕", "arrest"),
    ("批准逮捕", r"(?<!不)(?<!提请)批准逮捕", "arrest"),  # 提请批准逮捕 is the police asking
    ("附条件不起诉", r"附条件不起诉", "charge"),
    ("存疑不起诉", r"存疑不起诉|证据不足不起诉|证据不足.{0,6}不起诉", "charge"),
    ("酌定不起诉", r"酌定不起诉|相对不起诉|犯罪情节轻微.{0,30}不起诉", "charge"),
    ("法定不起诉", r"法定不起诉|绝对不起诉", "charge"),
    ("提出抗诉", r"抗诉", "supervision"),
    ("立案监督", r"立案监督|通知公安机关立案|要求公安机关说明不立案理由", "supervision"),
    ("再审检察建议", r"再审检察建议", "supervision"),
    ("诉前检察建议", r"诉前检察建议", "public_interest"),
    ("提起公益诉讼", r"提起.{0,6}公益诉讼", "public_interest"),
    ("提起公诉", r"提起公诉|向.{0,12}法院起诉", "charge"),
]
DECISION_NAMES = [d[0] for d in DECISIONS]

# What a decision question's wrong options are drawn from: the decisions of the same stage of
# proceedings, each with the words that, anywhere in the case, mean it may have been taken too
# (then it is no wrong option). Some are never an answer, only a distractor.
STAGES: dict[str, list[tuple[str, str]]] = {
    "criminal": [
        ("批准逮捕", r"逮捕"), ("不批准逮捕", r"不(予)?批准逮捕|不捕"), ("提起公诉", r"公诉|起诉书"),
        ("附条件不起诉", r"附条件不起诉"), ("酌定不起诉", r"酌定不起诉|相对不起诉|不起诉"),
        ("存疑不起诉", r"存疑不起诉|证据不足"), ("法定不起诉", r"法定不起诉|绝对不起诉|不起诉"),
        ("退回补充侦查", r"补充侦查"), ("追加起诉", r"追加"), ("变更起诉", r"变更.{0,4}起诉"),
        ("撤回起诉", r"撤回.{0,4}起诉"), ("核准追诉", r"追诉"),
    ],
    "supervision": [
        ("提出抗诉", r"抗诉"), ("再审检察建议", r"再审检察建议"), ("立案监督", r"立案监督|不立案|说明.{0,4}理由"),
        ("提出纠正意见", r"纠正违法|纠正意见"), ("支持起诉", r"支持起诉"), ("提请抗诉", r"抗诉"),
        ("监督撤案", r"撤案|撤销案件"),
    ],
    "public_interest": [
        ("诉前检察建议", r"检察建议"), ("提起公益诉讼", r"公益诉讼"), ("支持起诉", r"支持起诉"),
        ("督促起诉", r"督促起诉"), ("提出抗诉", r"抗诉"),
        ("终结审查", r"终结审查"),
    ],
}
STAGE_OF = {"arrest": "criminal", "charge": "criminal", "supervision": "supervision",
            "public_interest": "public_interest"}

TRUE_FALSE = ["正确", "错误"]

# a negation word a statement has, and what is left when it goes (never the other way: a
# statement made false by one inserted 不 is a surface cue, see cues.py)
REMOVABLE_NEGATIONS: list[tuple[str, str]] = [
    ("不构成", "构成"), ("不属于", "属于"), ("不应当", "应当"), ("不应", "应"), ("不得", "可以"), ("无权", "有权"),
    ("不能", "能够"), ("不予", "予以"), ("不批准", "批准"), ("不影响", "影响"), ("不宜", "宜"), ("不需要", "需要"),
    ("不必", "必须"), ("不是", "是"),
]
# the old faithful negations, kept for callers that flip a statement both ways
NEGATIONS: list[tuple[str, str]] = [
    ("不构成", "构成"), ("不属于", "属于"), ("不应当", "应当"), ("不得", "可以"), ("无权", "有权"),
    ("不能", "能够"), ("构成", "不构成"), ("属于", "不属于"), ("应当", "不应当"), ("可以", "不得"),
    ("有权", "无权"),
]

# who acts: exchanging them makes a statement about the procuratorate false without a negation
SUBJECTS = ("人民检察院", "人民法院", "公安机关")
SUBJECT_SWAPS = {"检察机关": ("公安机关", "审判机关"), "人民检察院": ("人民法院", "公安机关"),
                 "人民法院": ("人民检察院", "公安机关"), "公安机关": ("人民检察院", "人民法院"),
                 "审判机关": ("检察机关", "侦查机关"), "侦查机关": ("检察机关", "审判机关")}

# legal word pairs whose exchange changes what a statement says (the modal, the direction of a
# sentence, the mental element, the kind of public-interest suit); none adds or drops a negation
WORD_SWAPS: list[tuple[str, str]] = [
    ("应当", "可以"), ("可以", "应当"), ("从轻", "从重"), ("从重", "从轻"), ("从宽", "从严"), ("从严", "从宽"),
    ("故意", "过失"), ("过失", "故意"), ("主犯", "从犯"), ("从犯", "主犯"), ("民事公益诉讼", "行政公益诉讼"),
    ("行政公益诉讼", "民事公益诉讼"), ("事前", "事后"), ("事后", "事前"), ("直接", "间接"), ("间接", "直接"),
    ("减轻", "加重"), ("加重", "减轻"), ("作为义务", "注意义务"), ("刑事责任", "民事责任"), ("民事责任", "刑事责任"),
]

# a number with a unit of time, money or people: a period or amount a statement may be changed in
NUMERALS = ["一", "两", "二", "三", "五", "七", "十", "十五", "二十", "三十", "六十"]
NUMBER_SHIFT = {"一": "三", "两": "一", "二": "三", "三": "七", "五": "三", "七": "三", "十": "十五", "十五": "三十",
                "二十": "三十", "三十": "十五", "六十": "三十", "六": "三", "四": "六", "八": "五", "九": "六"}
PERIOD = re.compile(r"(?<![第\d零一二三四五六七八九十百千两])(十五|二十|三十|六十|[一两二三四五六七八九十])"
                    r"(?=(个月|日|天|年|小时|周|倍|万元|千元|人))")
DIGITS = re.compile(r"(?<![\d.第])(\d{1,3})(?=(个月|日|天|小时|周|倍|万元|元|人))")


@lru_cache(maxsize=1)
def legal_terms() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(crime names, other legal terms) from the legal dictionary."""
    text = (resources.files("assistant.resources") / "legal_dict.txt").read_text(encoding="utf-8")
    words = [line.split()[0] for line in text.splitlines() if line.strip() and not line.startswith("#")]
    crimes = tuple(w for w in words if w.endswith("罪") and len(w) >= 3 and w not in ("共同犯罪",))
    terms = tuple(w for w in words if not w.endswith("罪") and len(w) >= 3)
    return crimes, terms


@lru_cache(maxsize=1)
def crime_groups() -> dict[str, str]:
    """Crime name -> the chapter group it belongs to (resources/crime_groups.tsv)."""
    text = (resources.files("assistant.resources") / "crime_groups.tsv").read_text(encoding="utf-8")
    groups = {}
    for line in text.splitlines():
        if line.strip() and not line.startswith("#"):
            group, _, names = line.partition("\t")
            for name in names.split():
                groups[name] = group
    return groups


def confusable_crimes(charge: str) -> list[str]:
    """Crimes a learner may take for ``charge``: the same chapter group, those sharing words with
    it first (集资诈骗罪 → 合同诈骗罪, 诈骗罪 …), then the rest of the group."""
    groups = crime_groups()
    group = groups.get(charge)
    if group is None:
        return []
    core = charge.removesuffix("罪")
    same = [c for c in groups if groups[c] == group and c != charge and c not in charge and charge not in c]
    return sorted(same, key=lambda c: -len(set(core) & set(c.removesuffix("罪"))))
