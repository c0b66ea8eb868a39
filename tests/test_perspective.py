"""Perspective space over time (issue 21, item 1): every agent-round embedded jointly."""

import dcor
import numpy as np
import pytest
from conftest import read_rows

from lwd.metrics.perspective import joint_energy, joint_means
from lwd.report.llm import write_llm_report
from lwd.run.llm import start_run
from lwd.run.scenario import load_scenario


def classical(squared: np.ndarray) -> np.ndarray:
    """Classical MDS of a matrix of squared distances, written out: the top two of −½·J·Δ·J."""
    k = len(squared)
    centring = np.eye(k) - 1.0 / k
    values, vectors = np.linalg.eigh(-0.5 * centring @ squared @ centring)
    order = np.argsort(values)[::-1][:2]
    return vectors[:, order] * np.sqrt(values[order])


def rounds_of_answers(rng, rounds=6, n=3, size=10, dim=8):
    embeddings, owners = [], []
    for t in range(rounds):
        centres = [np.r_[2.0 * i - 0.3 * i * t, np.zeros(dim - 1)] for i in range(n)]
        embeddings.append(np.concatenate([rng.normal(size=(size, dim)) + c for c in centres]))
        owners.append(np.repeat(np.arange(n), size))
    return embeddings, owners


def same_up_to_signs(a: np.ndarray, b: np.ndarray) -> float:
    return max(min(np.abs(a[:, j] - b[:, j]).max(), np.abs(a[:, j] + b[:, j]).max()) for j in range(2))


def test_the_means_version_is_classical_mds_of_every_agent_round_at_once():
    rng = np.random.default_rng(0)
    means = rng.normal(size=(5, 4, 7))
    means[2, 1] = np.nan  # an agent without answers in round 2
    coords = joint_means(means)
    assert coords.shape == (5, 4, 2) and np.isnan(coords[2, 1]).all()
    points = means.reshape(20, 7)[np.isfinite(means.reshape(20, 7)).all(axis=1)]
    squared = ((points[:, None] - points[None]) ** 2).sum(axis=2)
    flat = coords.reshape(20, 2)
    assert same_up_to_signs(flat[np.isfinite(flat).all(axis=1)], classical(squared)) < 1e-9


def test_the_energy_version_is_classical_mds_of_energy_distances_and_landmarks_approximate_it():
    rng = np.random.default_rng(1)
    embeddings, owners = rounds_of_answers(rng)
    sets = [e[o == i] for e, o in zip(embeddings, owners, strict=True) for i in range(3)]
    energy = np.array([[dcor.energy_distance(a, b) for b in sets] for a in sets])
    exact = joint_energy(embeddings, owners, 3, landmarks=100).reshape(-1, 2)
    assert same_up_to_signs(exact, classical(energy)) < 1e-8
    landmarks = joint_energy(embeddings, owners, 3, landmarks=8).reshape(-1, 2)
    assert abs(np.corrcoef(landmarks[:, 0], exact[:, 0])[0, 1]) > 0.95  # the axis that carries the drift


def test_an_agent_drifting_away_moves_along_one_axis_in_both_versions():
    rng = np.random.default_rng(2)
    embeddings, owners = rounds_of_answers(rng, rounds=8)
    means = np.stack(
        [[e[o == i].mean(axis=0) for i in range(3)] for e, o in zip(embeddings, owners, strict=True)]
    )
    for coords in (joint_means(means), joint_energy(embeddings, owners, 3)):
        # agent 2's centre moves 0.6 a round along the first axis: its path is long, agent 0's stays put
        travelled = np.abs(coords[-1] - coords[0]).sum(axis=1)
        assert travelled[2] > 2 * travelled[0]


@pytest.fixture
def run(tmp_path, fake_scenario):
    folder = tmp_path / "run"
    start_run(load_scenario(fake_scenario), folder)
    write_llm_report(folder)
    return folder


def test_the_report_writes_the_coordinates_and_draws_the_trajectories(run):
    rows = read_rows(run / "perspective.csv")
    assert len(rows) == 4 * 3 and list(rows[0]) == [
        "round",
        "agent",
        "means_x",
        "means_y",
        "energy_x",
        "energy_y",
    ]
    assert all(np.isfinite(float(r[c])) for r in rows for c in ("means_x", "energy_y"))
    assert "Perspective space over time" in (run / "report.html").read_text(encoding="utf-8")
