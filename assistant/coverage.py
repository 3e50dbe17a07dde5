"""Does the corpus cover this question? A 0..1 support score, and the foreign-law rule.

Four signals, combined by a logistic model fitted by ``python -m evals.answers --fit``
and shipped in resources/support.json:

- known: the IDF-weighted share of the question's key terms that occur in the corpus;
- nearest: the cosine similarity of the nearest retrieved passage;
- legal: how much more often the question's two most legal words occur in the corpus than
  in general Chinese (jieba's dictionary frequencies), as a log ratio. "楼上漏水，可以要求
  赔偿吗" has 赔偿 and 要求 far above their general frequency; "米饭煮糊了怎么办" has nothing
  the corpus uses more than everyday language does;
- together: the share of the key terms that one retrieved passage holds together (the
  best passage): a finance question may use words the corpus knows (定期存款, 收益), but no
  provision speaks of them together;
- legal_mean and legal_share: the IDF-weighted mean of that log ratio over all key terms, and
  the weighted share of key terms whose ratio is at least 3 (e^3 = 20 times more frequent in
  the corpus). The two most legal words alone do not tell a long, formal question about an
  annual work report (年度, 改进, 系统 are common in statutes) from a legal one: most of a
  legal question's words are legal, few of that one's are.

A layperson word (坐牢, 打人, 欠钱; resources/lay_terms.tsv) counts as known, and as legal as
the legal terms it stands for (有期徒刑, 故意伤害, 借款), so that "孩子犯罪了能不能不坐牢" is
recognised as the legal question it is.

A question below ``answer.min_support`` is declined. The score depends on the embedder
(``nearest``); the shipped model and threshold were calibrated for use-m3.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from assistant.index.keyword import KeywordIndex, KeywordView, LegalTokenizer
from assistant.models import Hit

FEATURES = ("known", "nearest", "legal", "together", "legal_mean", "legal_share")
SUPPORT_JSON_NAME = "support.json"
_LEGAL_CLIP = (-4.0, 8.0)
_LEGAL_WORD = 3.0  # a word at least e^3 times more frequent in the corpus than in general Chinese

# Named countries only: 外国/境外/国外 are also Chinese-law topics (境外犯罪, 外国法律的查明).
_COUNTRY = (r"美国|英国|日本|德国|法国|韩国|俄罗斯|俄国|加拿大|澳大利亚|澳洲|新加坡|印度|意大利|西班牙|荷兰|瑞士|瑞典|"
            r"巴西|墨西哥|泰国|越南|朝鲜|欧盟|英美")
# A named country, then within a few characters a word of law or of the state: its law, courts,
# prosecutors, police, parliament, government, constitution, taxes, visas … (外国人/日本籍/美国公司
# in China are Chinese-law questions).
_FOREIGN_RE = re.compile(
    rf"({_COUNTRY})(?!人|籍|公民|企业|公司|投资|客户|商人|留学生)[^。？！?，,]{{0,10}}"
    r"((?<![非合违依守执])法|制度|法院|法官|陪审|判例|判决|州|联邦|司法|诉讼|修正案|法案|条例|警告|规则|刑|罪|"
    r"检控|检察|控方|警察|警方|监狱|议会|国会|参议院|众议院|政府|总统|首相|国王|女王|王室|皇家|准则|宪章|"
    r"律师|选举|税|签证|移民|绿卡|枪)"
)
_DOMESTIC_RE = re.compile(r"中国|我国|国内|境内|中华人民共和国|内地")


def about_foreign_law(question: str) -> bool:
    """'日本刑法对盗窃罪怎么规定', '美国的米兰达警告是什么' — but not '外国人在我国犯罪怎么处理'."""
    return bool(_FOREIGN_RE.search(question)) and not _DOMESTIC_RE.search(question)


@dataclass(frozen=True)
class SupportModel:
    coef: tuple[float, ...]
    intercept: float

    def __call__(self, features: Sequence[float]) -> float:
        z = self.intercept + sum(c * f for c, f in zip(self.coef, features, strict=True))
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))

    def to_json(self, **extra) -> str:
        return json.dumps({"features": list(FEATURES), "coef": list(self.coef), "intercept": self.intercept, **extra},
                          ensure_ascii=False, indent=1)


@lru_cache(maxsize=1)
def shipped_model() -> SupportModel:
    data = json.loads((resources.files("assistant.resources") / SUPPORT_JSON_NAME).read_text(encoding="utf-8"))
    if tuple(data["features"]) != FEATURES:
        raise ValueError("resources/support.json was fitted on other features")
    return SupportModel(tuple(float(c) for c in data["coef"]), float(data["intercept"]))


def support_features(weights: dict[str, float], hits: Sequence[Hit], *, keyword: KeywordIndex | KeywordView,
                     tokenizer: LegalTokenizer, lay: dict[str, str] | None = None) -> tuple[float, ...]:
    """The :data:`FEATURES` of a question's key terms (term -> IDF) and its retrieved passages;
    ``lay`` maps layperson words to the legal terms they stand for."""
    lay = lay or {}

    def stands_for(term: str) -> list[str]:
        return [t for t in lay.get(term, "").split() if t in keyword]

    total = sum(weights.values())
    known = sum(w for t, w in weights.items() if t in keyword or stands_for(t)) / total if total else 0.0
    nearest = max(0.0, min(1.0, max((h.scores.get("vector", 0.0) for h in hits), default=0.0)))
    specific, weighted = [], []
    for t, w in weights.items():
        values = [s for x in (t, *stands_for(t)) if (s := legal_specificity(x, keyword, tokenizer)) is not None]
        if values:
            specific.append(max(values))
        weighted.append((max(values) if values else _LEGAL_CLIP[0], w))
    specific.sort(reverse=True)
    legal = sum(specific[:2]) / len(specific[:2]) if specific else _LEGAL_CLIP[0]
    legal_mean = sum(s * w for s, w in weighted) / total if total else _LEGAL_CLIP[0]
    legal_share = sum(w for s, w in weighted if s >= _LEGAL_WORD) / total if total else 0.0
    together = 0.0
    if total:
        for h in hits:
            text = h.chunk.citation + h.chunk.text
            held = sum(w for t, w in weights.items() if t in text or any(x in text for x in stands_for(t)))
            together = max(together, held / total)
    return known, nearest, legal, together, legal_mean, legal_share


def legal_specificity(token: str, keyword: KeywordIndex | KeywordView, tokenizer: LegalTokenizer) -> float | None:
    """log(share of passages with the word) - log(its share of general Chinese), clipped; None
    for a word no passage has."""
    df = keyword.df(token)
    if not df or not len(keyword):
        return None
    ratio = math.log((df + 0.5) / len(keyword)) - math.log(tokenizer.general_share(token))
    return max(_LEGAL_CLIP[0], min(_LEGAL_CLIP[1], ratio))
