"""ϕ on a server: `[embedder] base_url` sends the answers to OpenAI-compatible /v1/embeddings endpoints (a pool),
in batches, and gives the vectors the embedder gives in-process — lwd's own server (`python -m lwd.metrics.serve`)
in a thread for the fast tests, and in its own process with the packaged MiniLM for the real one."""

import base64
import contextlib
import json
import threading

import httpx
import numpy as np
import pytest
from conftest import FAKE_SCENARIO, write_scenario
from servers import embedding_server, free_port

from lwd.core.errors import BackendError, ConfigError, RunFolderError, SetupError
from lwd.metrics.embedders import HashEmbedder, load_embedder
from lwd.metrics.remote import RemoteEmbedder
from lwd.metrics.serve import serve
from lwd.run.llm import resume_run, start_run
from lwd.run.scenario import load_scenario

TEXTS = [
    f"answer {i}: Bitcoin will {'rise' if i % 3 else 'fall'} as {i} more people hold it" for i in range(10)
]


@contextlib.contextmanager
def served(embedder=None, port: int = 0):
    server = serve(embedder or HashEmbedder(), "127.0.0.1", port)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()


def test_the_servers_vectors_are_the_embedders_own_in_any_batches():
    local = HashEmbedder()
    with served(local) as url:
        remote = RemoteEmbedder("hash-64", [url], batch_size=3)
        assert remote.dim == 64
        np.testing.assert_array_equal(remote.embed(TEXTS), local.embed(TEXTS))  # four batches, in order
        assert remote.embed([]).shape == (0, 64)
        answer = httpx.post(
            f"{url}/embeddings", json={"input": TEXTS[:2], "encoding_format": "base64"}
        ).json()
        decoded = [np.frombuffer(base64.b64decode(d["embedding"]), np.float32) for d in answer["data"]]
        np.testing.assert_array_equal(decoded, local.embed(TEXTS[:2]))


def test_the_server_refuses_what_it_cannot_embed():
    with served() as url:
        for body, status, said in [
            ({"input": []}, 400, "non-empty list"),
            ({"input": [1, 2]}, 400, "token arrays"),
            ({"input": "x", "encoding_format": "int8"}, 400, "encoding_format"),
            ({"input": "x", "model": "other"}, 404, "serves 'hash-64'"),
        ]:
            answer = httpx.post(f"{url}/embeddings", json=body)
            assert answer.status_code == status and said in answer.json()["error"]["message"]


def test_a_pool_spreads_batches_and_passes_over_an_endpoint_that_is_down():
    dead = f"http://127.0.0.1:{free_port()}/v1"
    with served() as first, served() as second:
        remote = RemoteEmbedder("hash-64", [dead, first, second], batch_size=1, concurrency=1)
        np.testing.assert_array_equal(remote.embed(TEXTS * 3), HashEmbedder().embed(TEXTS * 3))
        counts = remote.pool.describe()
        assert counts[dead]["served"] == 0
        assert counts[first]["served"] > 0 and counts[second]["served"] > 0
        assert counts[first]["served"] + counts[second]["served"] == 31  # the probe and 30 batches of one
        assert list(remote.describe()["served"]) == [first, second]


def test_a_server_of_another_model_or_none_at_all_is_refused_at_the_start():
    with served() as url, pytest.raises(SetupError, match="serves 'hash-64', not 'all-MiniLM-L6-v2'"):
        RemoteEmbedder("all-MiniLM-L6-v2", [url])
    with pytest.raises(SetupError, match="no embedding server of \\[embedder\\] base_url answers"):
        RemoteEmbedder("hash-64", [f"http://127.0.0.1:{free_port()}/v1"])


def test_a_server_gone_mid_run_stops_the_batch_with_a_clear_error():
    with served() as url:
        remote = RemoteEmbedder("hash-64", [url], attempts=2, backoff=0.01)
    with pytest.raises(BackendError, match="did not embed a batch of 10 answers in 2 tries") as caught:
        remote.embed(TEXTS)
    assert "lwd resume" in str(caught.value)


def test_embedder_base_url_is_checked_with_its_key(tmp_path):
    for bad, said in [
        ('"ftp://h"', "'ftp://h'"),
        ("[]", "empty list"),
        ('["http://h/v1", "http://h/v1"]', "twice"),
    ]:
        text = FAKE_SCENARIO.replace('model = "hash"', f'model = "hash"\nbase_url = {bad}')
        with pytest.raises(ConfigError, match="embedder.base_url") as caught:
            load_scenario(write_scenario(tmp_path, text))
        assert said in str(caught.value)


def _on_server(tmp_path, url: str, name: str = "remote.toml"):
    text = FAKE_SCENARIO.replace('model = "hash"', f'model = "hash-64"\nbase_url = "{url}"\nbatch_size = 5')
    return load_scenario(write_scenario(tmp_path, text, name))


def test_a_run_embedded_on_a_server_equals_one_embedded_here_and_resumes_only_on_the_same_model(tmp_path):
    local = tmp_path / "local"
    start_run(load_scenario(write_scenario(tmp_path, FAKE_SCENARIO, "local.toml")), local)
    port = free_port()
    part = tmp_path / "part"
    with served(port=port) as url:
        start_run(_on_server(tmp_path, url), part, until=1)
    manifest = json.loads((part / "manifest.json").read_text())
    assert manifest["embedder"]["kind"] == "server" and manifest["embedder"]["base_url"] == [url]
    assert len(manifest["embedder"]["probe"]["head"]) == 16
    with pytest.raises(SetupError, match="no embedding server"):  # the server is down: refused, nothing lost
        resume_run(part)
    impostor = HashEmbedder(dim=32)
    impostor.name = "hash-64"
    with served(impostor, port=port), pytest.raises(RunFolderError, match="serves another model"):
        resume_run(part)
    with served(port=port):
        assert resume_run(part) == 2
    assert (part / "metrics.csv").read_bytes() == (local / "metrics.csv").read_bytes()


@pytest.mark.real
def test_the_packaged_minilm_served_gives_the_vectors_it_gives_here():
    """To 1e-5 per component (the same weights and code; batches of another size pad differently)."""
    local = load_embedder("all-MiniLM-L6-v2")
    with embedding_server() as server:
        remote = load_embedder("all-MiniLM-L6-v2", batch_size=4, server={"urls": (server.url,)})
        assert remote.dim == 384
        assert np.abs(remote.embed(TEXTS) - local.embed(TEXTS)).max() < 1e-5
        assert remote.describe()["weights_sha256"] == local.describe()["weights_sha256"]
