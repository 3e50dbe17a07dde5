"""Ingest runs against the real Chroma store and SQLite docstore (hash embedder for speed)."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from assistant.config import load_settings
from assistant.errors import WriterBusy
from assistant.index.embedders import HashEmbedder
from assistant.ingest.loaders import LoadOptions
from assistant.models import Principal
from assistant.service import build_assistant
from tests.conftest import write_jsonl
from tests.servers import needs_servers, unique_collection


@pytest.fixture(params=["embedded", pytest.param("servers", marks=needs_servers)])
def settings(request, tmp_path):
    """Each docstore test runs embedded (SQLite, Chroma on disk) and scaled out (PostgreSQL, Chroma server)."""
    if request.param == "servers":
        return request.getfixturevalue("server_settings")
    return load_settings(data_dir=tmp_path / "data", embedder={"name": "hash-64"})


class CountingEmbedder(HashEmbedder):
    def __init__(self) -> None:
        super().__init__(64)
        self.name = "hash-64"
        self.texts: list[str] = []

    def embed_documents(self, texts):
        self.texts.extend(texts)
        return super().embed_documents(texts)


def material(title: str, *sections: tuple[str, str], extra: str = "") -> str:
    body = "".join(f"## {h}\n\n{t}\n\n" for h, t in sections)
    return f"---\ntitle: {title}\n{extra}---\n# {title}\n\n{body}"


@pytest.fixture
def tree(tmp_path) -> Path:
    root = tmp_path / "corpus"
    (root / "sub").mkdir(parents=True)
    (root / "a.md").write_text(material("讲义甲", ("一、概念", "正当防卫是法定的违法阻却事由。"), ("二、限度", "防卫不得明显超过必要限度。")), encoding="utf-8")
    (root / "sub" / "b.md").write_text(material("讲义乙", ("一、适用", "认罪认罚从宽制度适用于所有刑事案件。")), encoding="utf-8")
    (root / "c.txt").write_bytes("附条件不起诉\n一、条件\n可能判处一年有期徒刑以下刑罚。".encode("gbk"))
    return root


def state(assistant) -> tuple[set[str], set[str]]:
    """(ids in the vector store, ids the docstore claims); also checks the chunk table agrees."""
    entries = assistant.docstore.load().values()
    assert all(e.state == "committed" for e in entries)
    docstore_ids = {c for e in entries for c in e.chunk_ids}
    assert set(assistant.docstore.get_chunks(sorted(docstore_ids))) == docstore_ids
    assert assistant.docstore.chunk_count() == len(docstore_ids)
    return assistant.store.all_ids(), docstore_ids


def test_first_run_adds_and_second_run_embeds_nothing(settings, tree):
    embedder = CountingEmbedder()
    assistant = build_assistant(settings, embedder=embedder)
    first = assistant.ingest([tree])
    assert (first.added, first.updated, first.unchanged, first.removed) == (3, 0, 0, 0)
    assert first.embedded == first.chunks == len(embedder.texts) > 0
    stored, claimed = state(assistant)
    assert stored == claimed and len(stored) == first.chunks
    # keyword tokens were made beside the embedder, not left for the keyword index to compute
    assert all(row["tokens"] for row in assistant.docstore.catalog_rows())

    embedder.texts.clear()
    second = build_assistant(settings, embedder=embedder).ingest([tree])
    assert (second.added, second.updated, second.unchanged, second.embedded) == (0, 0, 3, 0)
    assert embedder.texts == []
    assert state(assistant) == (stored, claimed)


def test_changed_file_replaces_exactly_its_chunks(settings, tree):
    embedder = CountingEmbedder()
    assistant = build_assistant(settings, embedder=embedder)
    assistant.ingest([tree])
    before = {e.doc_id: set(e.chunk_ids) for e in assistant.docstore.load().values()}
    embedder.texts.clear()

    (tree / "a.md").write_text(material("讲义甲", ("一、概念", "正当防卫是法定的违法阻却事由。"), ("二、限度", "防卫过当应当负刑事责任，但是应当减轻或者免除处罚。")), encoding="utf-8")
    report = assistant.ingest([tree])
    assert (report.added, report.updated, report.unchanged) == (0, 1, 2)
    assert embedder.texts == ["《讲义甲》·二、限度\n防卫过当应当负刑事责任，但是应当减轻或者免除处罚。"]  # only the changed chunk
    after = {e.doc_id: set(e.chunk_ids) for e in assistant.docstore.load().values()}
    assert after["sub/b.md"] == before["sub/b.md"] and after["c.txt"] == before["c.txt"]
    assert len(after["a.md"] & before["a.md"]) == 1 and len(after["a.md"]) == 2
    stored, claimed = state(assistant)
    assert stored == claimed
    hits = assistant.search("防卫过当减轻或者免除处罚", principal=Principal.local_admin(), k=1)
    assert hits[0].chunk.text.startswith("防卫过当应当负刑事责任")


def test_metadata_change_rewrites_filters_without_embedding(settings, tree):
    embedder = CountingEmbedder()
    assistant = build_assistant(settings, embedder=embedder)
    assistant.ingest([tree])
    embedder.texts.clear()
    report = assistant.ingest([tree], options=LoadOptions(access=("公诉部",)))
    assert report.updated == 3 and report.embedded == 0 and embedder.texts == []
    outsider = Principal(user="u", role="learner", departments=("民事检察部",))
    assert assistant.search("正当防卫", principal=outsider) == []
    insider = Principal(user="v", role="learner", departments=("公诉部",))
    assert assistant.search("正当防卫", principal=insider)


def test_prune_removes_documents_whose_files_are_gone(settings, tree):
    assistant = build_assistant(settings, embedder=CountingEmbedder())
    assistant.ingest([tree])
    (tree / "sub" / "b.md").unlink()
    kept = assistant.ingest([tree])
    assert kept.removed == 0 and "sub/b.md" in assistant.docstore.load()  # no --prune: nothing removed
    pruned = assistant.ingest([tree], prune=True)
    assert pruned.removed == 1
    assert set(assistant.docstore.load()) == {"a.md", "c.txt"}
    stored, claimed = state(assistant)
    assert stored == claimed


def test_prune_keeps_documents_of_files_that_became_unreadable(settings, tree):
    assistant = build_assistant(settings, embedder=CountingEmbedder())
    assistant.ingest([tree])
    (tree / "c.txt").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)
    report = assistant.ingest([tree], prune=True)
    assert report.removed == 0 and [s.reason for s in report.skipped] == ["binary file (PNG image), not text"]
    assert "c.txt" in assistant.docstore.load()


def test_prune_of_records_removed_from_a_jsonl(settings, tmp_path, statute_records):
    path = write_jsonl(tmp_path / "laws.jsonl", [r for r in statute_records if r["law_short"] in ("刑法", "检察官法")])
    assistant = build_assistant(settings, embedder=CountingEmbedder())
    assert assistant.ingest([path]).added == 2
    write_jsonl(path, [r for r in statute_records if r["law_short"] == "检察官法"])
    report = assistant.ingest([path], prune=True)
    assert (report.removed, report.unchanged) == (1, 1)
    assert set(assistant.docstore.load()) == {"检察官法"}


def test_bad_files_are_skipped_and_the_run_goes_on(settings, tree):
    (tree / "empty.md").write_bytes(b"")
    (tree / "bin.txt").write_bytes(os.urandom(256) + b"\x00")
    (tree / "notes.xlsx").write_bytes(b"PK\x03\x04")
    (tree / "bad.jsonl").write_text('{"id": "q1", "title": "问答", "text": "附条件不起诉的考验期是多久？六个月以上一年以下。", "kind": "qa"}\n{broken\n', encoding="utf-8")
    report = build_assistant(settings, embedder=CountingEmbedder()).ingest([tree])
    assert report.added == 4
    reasons = {Path(s.path).name + (f":{s.line}" if s.line else ""): s.reason for s in report.skipped}
    assert reasons == {
        "empty.md": "empty file",
        "bin.txt": "binary file (NUL bytes), not text",
        "notes.xlsx": "unsupported file type '.xlsx'",
        "bad.jsonl:2": reasons.get("bad.jsonl:2", ""),
    }
    assert reasons["bad.jsonl:2"].startswith("invalid JSON")
    assert [d["path"] for d in report.to_dict()["skipped"] if d["path"].endswith(":2")]


def test_one_writer_at_a_time(settings, tree):
    if settings.scaled_out:
        pytest.skip("the file lock of the embedded setup; tests/index/test_lock.py holds PostgreSQL's")
    assistant = build_assistant(settings, embedder=CountingEmbedder())
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from pathlib import Path; from assistant.index.lock import WriterLock\n"
        "with WriterLock(Path(sys.argv[1]), purpose='serve'):\n    print('held', flush=True); time.sleep(60)")
        , str(settings.data_dir)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(WriterBusy, match=r"is being written by pid \d+ on \S+ \(serve"):
            assistant.ingest([tree])
    finally:
        holder.kill()
        holder.wait()
    assert assistant.ingest([tree]).added == 3


def test_the_lock_is_reentrant_within_the_process_that_holds_it(settings, tree):
    """Embedded `jianxue serve` holds the lock; the ingests it runs for uploads take it again."""
    assistant = build_assistant(settings, embedder=CountingEmbedder())
    with assistant.writer_lock("serve"):
        assert assistant.ingest([tree]).added == 3
    with assistant.writer_lock("again"):  # released: takes it afresh
        pass


def test_search_before_any_ingest_says_what_to_do(settings):
    from assistant.errors import CorpusError

    with pytest.raises(CorpusError, match="jianxue ingest"):
        build_assistant(settings, embedder=CountingEmbedder()).search("x", principal=Principal.local_admin())


# --- a subprocess killed mid-ingest, then resumed ---------------------------------------


class Deployments:
    """Fresh, separate installs for one mode: a data directory each and, scaled out, a
    PostgreSQL schema and a Chroma collection of their own."""

    def __init__(self, mode: str, root: Path, request) -> None:
        self.mode, self.root, self.request = mode, root, request

    def new(self, name: str) -> dict[str, str]:
        env = {"JIANXUE_DATA_DIR": str(self.root / name), "JIANXUE_EMBEDDER__NAME": "hash-64"}
        if self.mode == "servers":
            env.update(JIANXUE_DATABASE__URL=self.request.getfixturevalue("pg_schemas")(),
                       JIANXUE_CHROMA__URL=self.request.getfixturevalue("chroma_server").url,
                       JIANXUE_CHROMA__COLLECTION=unique_collection())
        return env


def run_cli(args: list[str], deployment: dict[str, str], **kw) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JIANXUE_")} | deployment
    return subprocess.Popen([sys.executable, "-m", "assistant", *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kw)


def final_ids(deployment: dict[str, str]) -> tuple[set[str], set[str]]:
    from assistant.config import load_settings

    settings = load_settings(data_dir=Path(deployment["JIANXUE_DATA_DIR"]), embedder={"name": "hash-64"},
                             database={"url": deployment.get("JIANXUE_DATABASE__URL")},
                             chroma={"url": deployment.get("JIANXUE_CHROMA__URL"),
                                     "collection": deployment.get("JIANXUE_CHROMA__COLLECTION", "jianxue_chunks")})
    return state(build_assistant(settings))


def children(pid: int) -> list[int]:
    """Child processes of pid (the embedding workers of an ingest), from /proc."""
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            out += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            pass
    return out


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


KILLS = 20


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["embedded", pytest.param("servers", marks=needs_servers)])
def test_an_ingest_killed_at_20_random_points_converges_on_the_clean_result(mode, tmp_path, statute_records, request):
    """SIGKILL at random moments; every chain of killed runs is resumed and must end with exactly
    the chunk ids of a clean run, with no worker left behind."""
    deployments = Deployments(mode, tmp_path, request)
    source = write_jsonl(tmp_path / "laws.jsonl", statute_records[:2500])
    clean = deployments.new("clean")
    started = time.perf_counter()
    done = run_cli(["ingest", str(source), "--json"], clean)
    out, err = done.communicate(timeout=600)
    clean_seconds = time.perf_counter() - started
    assert done.returncode == 0, err
    expected = final_ids(clean)
    assert expected[0] == expected[1] and len(expected[0]) == json.loads(out)["chunks"]

    rng = random.Random(20261206)
    kills, chains, orphans = 0, 0, []
    while kills < KILLS:
        deployment = deployments.new(f"chain{chains}")
        chains += 1
        while kills < KILLS:
            proc = run_cli(["ingest", str(source), "--json"], deployment)
            time.sleep(rng.uniform(0.3, max(0.4, clean_seconds * 0.9)))
            if proc.poll() is not None:  # it finished before the kill: this chain is done
                proc.communicate(timeout=600)
                break
            orphans += children(proc.pid)
            proc.send_signal(signal.SIGKILL)
            proc.communicate(timeout=600)
            kills += 1
        resumed = run_cli(["ingest", str(source), "--json"], deployment)
        out, err = resumed.communicate(timeout=600)
        assert resumed.returncode == 0, err
        assert final_ids(deployment) == expected, f"chain {chains} after {kills} kills"
        again = json.loads(run_cli(["ingest", str(source), "--json"], deployment).communicate(timeout=600)[0])
        assert again["embedded"] == again["added"] == again["updated"] == 0 and again["unchanged"] > 0
    deadline = time.monotonic() + 60  # a worker still starting when its ingest was killed notices only once up
    while any(alive(pid) for pid in orphans) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [pid for pid in orphans if alive(pid)], "embedding workers outlived the killed ingest"


def test_a_new_citation_re_embeds_even_when_the_text_is_the_same(settings, tmp_path):
    case = tmp_path / "cases" / "c.md"
    case.parent.mkdir()
    body = "【要旨】\n犯罪情节轻微的，可以不起诉。\n【基本案情】\n甲盗窃价值五百元的财物。"
    case.write_text(f"---\nkind: case\ncase_no: 教学案例第1号\n---\n{body}", encoding="utf-8")
    embedder = CountingEmbedder()
    assistant = build_assistant(settings, embedder=embedder)
    assistant.ingest([case.parent])
    embedder.texts.clear()
    case.write_text(f"---\nkind: case\ncase_no: 教学案例第2号\n---\n{body}", encoding="utf-8")
    report = assistant.ingest([case.parent])
    assert report.updated == 1 and report.embedded == 2
    assert [t.split("\n")[0] for t in embedder.texts] == ["教学案例第2号·要旨", "教学案例第2号·基本案情"]
    [hit] = assistant.search("犯罪情节轻微", principal=Principal.local_admin(), k=1)
    assert hit.chunk.citation == "教学案例第2号·要旨"
