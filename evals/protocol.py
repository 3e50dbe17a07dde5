"""Honest retrieval figures: 5-fold cross-validation and a time split, side by side.

    python -m evals.retrieval --protocol timesplit [--cutoff 2020-12-31] [--limit N] [--train-ranker]

Cross-validation overstated what a new question gets: a guiding case's key points find the
articles that earlier *and later* cases cite. Under the time split the guiding cases published
up to the cutoff teach (their 相关规定 become hints, their key points and facts train the
ranker) and only the later ones are asked, as a deployment meets next year's cases. STARD and
CAIL carry no dates; they are split by their folds under both protocols.

Two configurations, each measured against BM25 alone and vectors alone from the same candidates:
  statutes  a fresh install: BM25, vectors, article references and the ranker's plain models
  learned   + citation hints and document expansion from the shared cases and question sets
The ranker is fitted per protocol and configuration on the training side only. The run prints
a FAIL line and exits 1 where hybrid falls below either single signal on any set.
"""

from __future__ import annotations

import hashlib
import json
import pickle
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from assistant.evaluation import Query, mean, metrics, queries_from_file, read_jsonl, unique_sources
from evals.common import REPO

SETS = ("stard_train", "gc_key_points", "gc_facts", "cail2018_fact_to_article")
CUTOFF = "2020-12-31"  # guiding cases published up to here teach; later ones are asked
PROTOCOLS = ("cv", "timesplit")
CONFIGS = ("statutes", "learned")
SET_CAP = 150  # queries: a bigger set is weighed down to this many within a style
TRAIN_RANK = 100  # ranker training keeps the candidates some signal ranked above this, and every gold one


@dataclass
class Collected:
    """One query's candidates in one configuration: what every system's ranking is made from."""

    query: Query
    set: str
    sources: list[str]  # source id of each candidate row, aligned with features
    features: np.ndarray
    authority: np.ndarray
    direct: list[str]
    keyword: list[str]  # the first ten articles of each single signal
    vector: list[str]
    hints: list[str]

    @property
    def style(self) -> str:
        from assistant.rank import query_style

        return query_style(self.query.text)

    @property
    def labels(self) -> np.ndarray:
        gold = set(self.query.gold)
        return np.array([s in gold for s in self.sources], dtype=bool)


def fold_of(item: str, folds: int = 5) -> int:
    return int(hashlib.sha256(item.encode()).hexdigest(), 16) % folds


def load_sets(data: Path, limit: int = 0) -> dict[str, list[Query]]:
    sets: dict[str, list[Query]] = {}
    for name in ("stard_train", "guiding_case_retrieval", "cail2018_fact_to_article"):
        sets.update(queries_from_file(data / "eval" / f"{name}.jsonl"))
    return {name: sets[name][:limit] if limit else sets[name] for name in SETS}


def case_dates(data: Path) -> dict[str, str]:
    """Publication date of every guiding case (batches 1-7 only to the month: ``2014-02``)."""
    return {r["id"]: str(r.get("date") or "") for r in read_jsonl(data / "guiding_cases.jsonl")}


def is_late(item: str, dates: dict[str, str], cutoff: str) -> bool:
    """A guiding case published after the cutoff (asked, never taught under the time split)."""
    return item in dates and dates[item][: len(cutoff)] > cutoff


def _earlier(a: str, b: str) -> bool:
    """Published strictly before (dates known only to the month compare by month)."""
    n = min(len(a), len(b))
    return bool(a) and bool(b) and a[:n] < b[:n]


def _order(signal: dict, catalog) -> list[str]:
    return unique_sources(catalog.source_ids[r] for r, _ in sorted(signal.items(), key=lambda kv: kv[1][0]))


def collect(retriever, query: Query, set_name: str) -> Collected:
    from assistant.index.store import SearchFilter

    found = retriever.candidates(query.text, where=SearchFilter(departments=None))
    catalog, rows = found.catalog, found.rows
    return Collected(
        query=query, set=set_name, sources=[catalog.source_ids[r] for r in rows],
        features=found.features().astype(np.float32), authority=catalog.authority[np.asarray(rows, dtype=np.intp)],
        direct=unique_sources(catalog.source_ids[r] for r in found.direct),
        keyword=_order(found.keyword, catalog), vector=_order(found.vector, catalog),
        hints=_order(found.hints, catalog))


def hybrid_order(c: Collected, model) -> list[str]:
    """What Retriever.search returns, at the article level: references first, then by score."""
    if not c.sources:
        return c.direct[:10]
    scores = model.score(c.features.astype(np.float64))
    ranked = np.lexsort((c.authority, -np.round(scores, 9)))
    return unique_sources([*c.direct, *(c.sources[i] for i in ranked)])


def fit_ranker(samples: list[Collected], *, plain: bool):
    """One logistic model per query style. Within a style no set weighs more than SET_CAP
    queries, so that 500 CAIL facts do not teach the facts model what only CAIL rewards (CAIL's
    charges repeat; a guiding case's provisions mostly do not)."""
    from sklearn.linear_model import LogisticRegression

    from assistant.rank import STYLES, LinearRanker, Ranker

    def fit(part: list[Collected]) -> LinearRanker:
        sizes: dict[str, int] = {}
        for c in part:
            sizes[c.set] = sizes.get(c.set, 0) + 1
        xs, ys, ws = [], [], []
        for c in part:
            if not len(c.features):
                continue
            labels = c.labels
            keep = labels | (c.features[:, [1, 3, 5, 15]].max(axis=1) > 1.0 / (TRAIN_RANK + 1))
            xs.append(c.features[keep])
            ys.append(labels[keep])
            ws.append(np.full(int(keep.sum()), min(1.0, SET_CAP / sizes[c.set])))
        x, y, w = np.vstack(xs).astype(np.float64), np.concatenate(ys), np.concatenate(ws)
        model = LogisticRegression(C=1.0, max_iter=3000)
        model.fit(x, y, sample_weight=w * len(w) / w.sum())
        return LinearRanker(tuple(round(float(c), 6) for c in model.coef_[0]), round(float(model.intercept_[0]), 6))

    suffix = "/plain" if plain else ""
    models = {}
    for style in STYLES:
        part = [c for c in samples if c.style == style]
        if sum(c.labels.any() for c in part) >= 20:
            models[style + suffix] = fit(part)
    if not models:
        models["question" + suffix] = fit(samples)
    return Ranker(models)


class Run:
    """The index, the training pool and the candidates of every query, cached by the code that made them."""

    def __init__(self, data: Path, *, cutoff: str = CUTOFF, limit: int = 0, cache: Path) -> None:
        from evals.retrieval import build_index, training_pool

        self.data, self.cutoff, self.cache = data, cutoff, cache
        self.sets = load_sets(data, limit)
        self.dates = case_dates(data)
        self.assistant, self.embedder = build_index(data)
        self.pool = training_pool(data)
        self.key = _code_key(cutoff, limit, self.embedder.name)
        self._vectors: np.ndarray | None = None
        self._tokens: list[list[str]] | None = None

    def queries(self) -> list[tuple[str, Query]]:
        return [(name, q) for name, qs in self.sets.items() for q in qs]

    def _pool(self) -> list[tuple[str, str, tuple[str, ...]]]:
        """(item, text, cites) of the training pool; their vectors and tokens are computed once."""
        texts = [(p.item, t, p.cites) for p in self.pool for t in p.texts]
        if self._vectors is None:
            path = self.cache / f"pool-vectors-{self.embedder.name}-{len(texts)}.npy"
            if path.exists():
                self._vectors = np.load(path)
            else:
                self._vectors = self.embedder.embed_documents([t[:2000] for _, t, _ in texts])
                np.save(path, self._vectors)
            self._tokens = [self.assistant.tokenizer.tokens(t) for _, t, _ in texts]
        return texts

    def _hints_of(self, keep: list[int]):
        from assistant.index.hints import CitationHints, Example

        texts = self._pool()
        return CitationHints([Example(texts[i][1], texts[i][2]) for i in keep],
                             tokenizer=self.assistant.tokenizer, embedder=self.embedder,
                             vectors=self._vectors[keep], tokens=[self._tokens[i] for i in keep])

    def hints(self, protocol: str) -> dict[int, object]:
        """One CitationHints per fold (without that fold's items) and -1 (every item of the pool);
        under the time split, cases after the cutoff are in none of them."""
        texts = self._pool()
        return {fold: self._hints_of([i for i, (item, _, _) in enumerate(texts) if fold_of(item) != fold
                                      and not (protocol == "timesplit" and is_late(item, self.dates, self.cutoff))])
                for fold in (*range(5), -1)}

    def hints_before(self, date: str):
        """Hints as a deployment had them when a case of ``date`` was published: every question
        set, and the guiding cases published strictly before it."""
        texts = self._pool()
        return self._hints_of([i for i, (item, _, _) in enumerate(texts)
                               if item not in self.dates or _earlier(self.dates[item], date)])

    def _temporal(self, queries: list[tuple[str, Query]]) -> list[Collected]:
        out, retrievers = [], {}
        for s, q in queries:
            date = self.dates[q.item]
            if date not in retrievers:
                retrievers[date] = self.assistant.retriever(hints=self.hints_before(date), ranker=False)
            out.append(collect(retrievers[date], q, s))
        return out

    def temporal_late(self) -> list[Collected]:
        """The cases after the cutoff, each with the hints of its own publication date (to ship a ranker)."""
        path = self.cache / f"collected-temporal-late-{self.key}.pkl"
        if path.exists():
            return pickle.loads(path.read_bytes())
        out = self._temporal([(s, q) for s, q in self.queries() if is_late(q.item, self.dates, self.cutoff)])
        path.write_bytes(pickle.dumps(out))
        return out

    def _late(self, query: Query) -> bool:
        return is_late(query.item, self.dates, self.cutoff)

    def model_of(self, protocol: str, query: Query) -> int:
        """Which fold's models answer a query: its own fold, or -1 for a late case under the time split."""
        return -1 if protocol == "timesplit" and is_late(query.item, self.dates, self.cutoff) else fold_of(query.item)

    def collected(self, protocol: str, config: str) -> list[Collected]:
        """Candidates of every query; the statutes configuration is the same under both protocols."""
        name = f"collected-{config if config == 'statutes' else config + '-' + protocol}-{self.key}.pkl"
        path = self.cache / name
        if path.exists():
            return pickle.loads(path.read_bytes())
        started = time.perf_counter()
        if config == "statutes":
            plain = self.assistant.retriever(hints=False, ranker=False)
            out = [collect(plain, q, s) for s, q in self.queries()]
        elif protocol == "cv":
            by_fold = {f: self.assistant.retriever(hints=h, ranker=False) for f, h in self.hints(protocol).items()}
            out = [collect(by_fold[self.model_of(protocol, q)], q, s) for s, q in self.queries()]
        else:
            # the ranker learns from the early cases as they looked when published (hints from older
            # cases only), not through hints that hold their near-twins from the same batch: fold
            # features taught it to trust hints that a new kind of case does not have
            by_fold = {f: self.assistant.retriever(hints=h, ranker=False) for f, h in self.hints(protocol).items()}
            cases = [(s, q) for s, q in self.queries() if q.item in self.dates and not self._late(q)]
            early = dict(zip((q.qid for _, q in cases), self._temporal(cases), strict=True))
            out = [early.get(q.qid) or collect(by_fold[self.model_of(protocol, q)], q, s) for s, q in self.queries()]
        print(f"candidates {config}/{protocol}: {len(out)} queries ({time.perf_counter() - started:.0f} s)", flush=True)
        path.write_bytes(pickle.dumps(out))
        return out


def _code_key(cutoff: str, limit: int, embedder: str) -> str:
    h = hashlib.sha256(f"{cutoff}|{limit}|{embedder}".encode())
    for path in sorted((REPO / "assistant").glob("**/*.py")) + sorted((REPO / "assistant" / "resources").glob("*")):
        if path.is_file() and "ranker" not in path.name:
            h.update(path.read_bytes())
    return h.hexdigest()[:12]


def evaluate(run: Run, protocol: str, config: str) -> tuple[dict, object]:
    """Metrics per set and system, and the ranker fitted on everything this protocol may teach."""
    every = run.collected(protocol, config)
    teach = [c for c in every if protocol == "cv" or not run._late(c.query)]
    plain = config == "statutes"
    rankers = {f: fit_ranker([c for c in teach if fold_of(c.query.item) != f], plain=plain) for f in range(5)}
    rankers[-1] = fit_ranker(teach, plain=plain)
    # out-of-fold: each teaching query scored by the ranker of the folds that did not see it
    oof = [(c, rankers[fold_of(c.query.item)].for_query(c.query.text, learned=not plain)) for c in teach]
    leans = {}
    for fold in (*range(5), -1):
        rankers[fold], leans[fold] = back_off(rankers[fold], [(c, m) for c, m in oof if fold_of(c.query.item) != fold])
    results: dict[str, dict[str, dict[str, float]]] = {}
    for set_name in SETS:
        asked = [c for c in every if c.set == set_name
                 and (protocol == "cv" or set_name not in ("gc_key_points", "gc_facts") or run._late(c.query))]
        if not asked:
            continue
        models = [rankers[run.model_of(protocol, c.query)].for_query(c.query.text, learned=not plain) for c in asked]
        systems = {"bm25": [c.keyword for c in asked], "vector": [c.vector for c in asked],
                   "hybrid": [hybrid_order(c, m) for c, m in zip(asked, models, strict=True)]}
        if not plain:
            systems["hints"] = [c.hints for c in asked]
        results[set_name] = {name: {**mean([metrics(r, c.query.gold) for r, c in zip(ranked, asked, strict=True)]),
                                    "queries": len(asked)}
                             for name, ranked in systems.items()}
    print(f"  {protocol}/{config} BM25 lean per style (all teaching queries): {leans[-1]}")
    return results, (rankers[-1], leans[-1])


LEANS = (0.0, 0.5, 1.0, 2.0, 4.0, 8.0, 1e4)  # extra weight on BM25's reciprocal rank to choose from
CONFIDENCE = 1.0  # standard errors: how sure held-out queries must make us that a blend beats the single signal


def back_off(ranker, held_out: list[tuple[Collected, object]]) -> tuple[object, dict[str, float]]:
    """Per style, the least extra weight on BM25 at which the ranker beats BM25 alone and vectors
    alone on every set of held-out training queries (out-of-fold scores) by at least CONFIDENCE
    standard errors of the paired difference — or ties them, as a large weight does. A style with
    few examples, or whose blend does not clearly hold up on queries it did not see, backs off
    towards the one signal that does (BM25; the vectors never won a set alone)."""
    from assistant.rank import Ranker

    models, leans = dict(ranker.models), {}
    for key, model in ranker.models.items():
        style = key.split("/")[0]
        by_set: dict[str, list[tuple[Collected, object]]] = {}
        for c, m in held_out:
            if c.style == style:
                by_set.setdefault(c.set, []).append((c, m))
        by_set = {s: part for s, part in by_set.items() if len(part) >= 10}
        if not by_set:
            continue
        singles = {}
        for name, part in by_set.items():
            bm25 = np.array([metrics(c.keyword, c.query.gold)["recall@10"] for c, _ in part])
            vector = np.array([metrics(c.vector, c.query.gold)["recall@10"] for c, _ in part])
            singles[name] = bm25 if bm25.mean() >= vector.mean() else vector

        def bound(lean: float, by_set=by_set, singles=singles) -> float:
            """The worst set's lower bound of (blend - best single signal)."""
            worst = np.inf
            for name, part in by_set.items():
                got = np.array([metrics(hybrid_order(c, m.leaning_on_keywords(lean)), c.query.gold)["recall@10"]
                                for c, m in part])
                d = got - singles[name]
                worst = min(worst, d.mean() - CONFIDENCE * d.std(ddof=1) / np.sqrt(len(d)) if d.any() else 0.0)
            return worst

        lean = next((lean for lean in LEANS if bound(lean) >= 0), LEANS[-1])
        models[key], leans[key] = model.leaning_on_keywords(lean), lean
    return Ranker(models), leans


def check(results: dict) -> list[str]:
    """Where hybrid is below BM25 alone or vectors alone (recall@10): every one is a FAIL."""
    failures = []
    for protocol, by_config in results.items():
        for config, by_set in by_config.items():
            for set_name, systems in by_set.items():
                best = max(("bm25", "vector"), key=lambda s: systems[s]["recall@10"])
                if systems["hybrid"]["recall@10"] < systems[best]["recall@10"]:
                    failures.append(f"FAIL {protocol}/{config}/{set_name}: hybrid recall@10 "
                                    f"{systems['hybrid']['recall@10']:.4f} < {best} {systems[best]['recall@10']:.4f}")
    return failures


def main(args) -> int:
    from evals.common import REPORTS, shared_data
    from evals.protocol_report import write_report
    from evals.retrieval import CACHE

    CACHE.mkdir(parents=True, exist_ok=True)
    run = Run(shared_data(), cutoff=args.cutoff, limit=args.limit, cache=CACHE)
    results: dict = {p: {} for p in PROTOCOLS}
    shipped = {}
    for protocol in PROTOCOLS:
        for config in CONFIGS:
            started = time.perf_counter()
            results[protocol][config], shipped[(protocol, config)] = evaluate(run, protocol, config)
            for set_name, systems in results[protocol][config].items():
                print(f"{protocol:>9} {config:>8} {set_name:>24}: " + "  ".join(
                    f"{s} {m['recall@10']:.3f}" for s, m in systems.items()) + f"  (n={systems['hybrid']['queries']})")
            print(f"  ({time.perf_counter() - started:.0f} s)", flush=True)
    if args.train_ranker:
        from assistant.rank import Ranker

        # plain models as the time split teaches; learned ones from stard and CAIL by folds and every case
        # with the hints of its own publication date (as the time split teaches, with the later cases)
        learned = run.collected("timesplit", "learned")
        teach = [c for c in learned if not run._late(c.query)] + run.temporal_late()
        _, leans = shipped[("timesplit", "learned")]
        learned_models = {k: m.leaning_on_keywords(leans.get(k, 0.0))
                          for k, m in fit_ranker(teach, plain=False).models.items()}
        final = Ranker({**shipped[("timesplit", "statutes")][0].models, **learned_models})
        (REPO / "assistant" / "resources" / "ranker.json").write_text(final.to_json() + "\n")
        print("wrote assistant/resources/ranker.json:", sorted(final.models))
    failures = check(results)
    (CACHE / "retrieval-protocol.json").write_text(json.dumps(results, indent=1))
    out = args.out if args.out is not None else REPORTS / "retrieval.md"
    if not args.limit:
        write_report(results, failures, out, cutoff=args.cutoff,
                     late=sum(is_late(q.item, run.dates, args.cutoff) for q in run.sets["gc_key_points"]))
    for line in failures:
        print(line, file=sys.stderr)
    print("PASS: hybrid is never below BM25 alone or vectors alone" if not failures else
          f"{len(failures)} FAIL line(s): hybrid below a single signal")
    return 1 if failures else 0
