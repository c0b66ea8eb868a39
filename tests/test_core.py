"""Small core pieces: D and ‖D‖_F, k_t, seeded streams, run-folder staging."""

import numpy as np
import pytest
from scipy.spatial.distance import cdist

from lwd.core.errors import ConfigError
from lwd.core.seeding import stream
from lwd.internet import retrieval_size
from lwd.metrics import distance_matrix, frobenius_norm
from lwd.run.folder import RunFolderError, staged_folder


def test_distance_matrix_matches_scipy_and_batches():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 5, 7))  # a batch of 4 networks, 5 models, 7-dim summaries
    d = distance_matrix(x)
    for b in range(4):
        np.testing.assert_allclose(d[b], cdist(x[b], x[b]), atol=1e-12)
    np.testing.assert_allclose(frobenius_norm(d), np.sqrt((d**2).sum(axis=(1, 2))))


def test_frobenius_of_identical_models_is_zero():
    assert frobenius_norm(distance_matrix(np.ones((3, 4)))) == 0.0


@pytest.mark.parametrize(
    "beta,size,k",
    [(0.5, 0, 0), (0.5, 9, 4), (0.29, 100, 29), (1.0, 7, 7), (0.1, 30, 3), (0.7, 10, 7), (0.01, 99, 0)],
)
def test_retrieval_size_is_the_exact_floor(beta, size, k):
    assert retrieval_size(beta, size) == k


def test_streams_are_reproducible_and_independent():
    assert stream(1, 0).random() == stream(1, 0).random()
    assert stream(1, 0).random() != stream(1, 1).random()
    assert stream(1, 2).random() == np.random.default_rng(np.random.SeedSequence(1).spawn(3)[2]).random()


def test_staged_folder_appears_only_when_complete(tmp_path):
    out = tmp_path / "run"
    with pytest.raises(ZeroDivisionError), staged_folder(out) as staging:
        (staging / "half.csv").write_text("1")
        1 / 0  # noqa: B018
    assert not out.exists() and not list(tmp_path.iterdir())
    with staged_folder(out) as staging:
        (staging / "done.csv").write_text("1")
    assert (out / "done.csv").read_text() == "1"
    with pytest.raises(RunFolderError, match="already exists"), staged_folder(out):
        pass
    empty = tmp_path / "empty"
    empty.mkdir()
    with staged_folder(empty) as staging:
        (staging / "x").write_text("")
    assert (empty / "x").exists()


def test_uncached_hub_embedder_is_a_clear_error_not_a_download(tmp_path, monkeypatch):
    from lwd.core.errors import SetupError
    from lwd.metrics.embedders import load_embedder

    monkeypatch.setenv("HF_HOME", str(tmp_path))  # an empty cache
    with pytest.raises(SetupError, match=r"not in the local Hugging Face cache.*never downloads"):
        load_embedder("nomic-ai/nomic-embed-text-v1.5")
    with pytest.raises(SetupError, match="unknown embedder 'word2vec'"):
        load_embedder("word2vec")


def test_one_plugin_registry_serves_every_kind():
    from lwd.core.plugins import Registry

    def accept(name, item, where):
        if not callable(item):
            raise ConfigError(f"{where} is not callable")
        return item

    registry = Registry("widget", "lwd.widgets-that-no-package-declares", accept=accept)
    registry.add("one", len)

    @registry.register("two")
    def two():
        return 2

    assert registry.names() == ["one", "two"] and registry.get("two") is two
    assert registry.load_all() == {"one": len, "two": two}
    with pytest.raises(TypeError, match=r"@register\('three'\) is not callable"):
        registry.register("three")(3)  # in code: a programming error
    with pytest.raises(ConfigError, match="unknown widget 'four': expected one of one, two") as refusal:
        registry.get("four")
    assert "lwd.widgets-that-no-package-declares" in refusal.value.fix
    assert registry.pop("one") is len and registry.names() == ["two"]
