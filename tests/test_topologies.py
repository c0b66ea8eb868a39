"""Topologies: the registry, what each built-in wires, user topologies by decorator and by entry point, errors."""

import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from conftest import FAKE_SCENARIO, write_scenario
from typer.testing import CliRunner

from lwd.cli import app
from lwd.core.errors import ConfigError
from lwd.core.trust import TRUST_ENV
from lwd.internet import topologies
from lwd.internet.topologies import TopologyContext
from lwd.run.gmm import simulate_scenario
from lwd.run.scenario import load_scenario, parse_scenario

GMM = """
description = "a small GMM network"
seed = 1

[network]
n = 6
beta = 0.5
samples = 2
rounds = 8
"""


def wiring(table: str, n: int = 6, base: Path = Path(".")):
    text = GMM.replace("n = 6", f"n = {n}") + "\n[topology]\n" + textwrap.dedent(table)
    return parse_scenario(text, source=base / "s.toml").scenario.wiring(base)


def test_available_lists_the_built_ins():
    assert {"complete", "ring", "star", "erdos_renyi", "small_world", "communities", "edge_list"} <= set(
        topologies.available()
    )


def test_complete_is_the_paper():
    w = wiring('name = "complete"')
    assert w.reads.all() and w.humans and w.communities == {}


def test_ring_reads_its_neighbours_and_itself():
    w = wiring('name = "ring"\nneighbours = 1')
    expected = (
        np.eye(6, dtype=bool) | np.roll(np.eye(6, dtype=bool), 1, 1) | np.roll(np.eye(6, dtype=bool), -1, 1)
    )
    np.testing.assert_array_equal(w.reads, expected)


def test_directed_ring_reads_only_the_agent_before():
    w = wiring('name = "ring"\ndirected = true\nself_posts = false')
    for i in range(6):
        assert np.flatnonzero(w.reads[i]).tolist() == [(i - 1) % 6]  # edge i-1 -> i: i reads i-1


def test_star_hub_reads_all_leaves_read_the_hub():
    w = wiring('name = "star"\nhub = 2')
    assert w.reads[2].all()
    for leaf in (0, 1, 3, 4, 5):
        assert np.flatnonzero(w.reads[leaf]).tolist() == sorted({2, leaf})


def test_communities_are_blocks_with_no_crossing_reads_when_p_out_is_0():
    w = wiring('name = "communities"\nsizes = [2, 4]')
    assert w.communities == {"c0": (0, 1), "c1": (2, 3, 4, 5)}
    assert not w.reads[:2, 2:].any() and not w.reads[2:, :2].any()
    assert w.reads[:2, :2].all() and w.reads[2:, 2:].all()


def test_random_graphs_follow_the_run_seed_unless_given_their_own():
    a = wiring('name = "erdos_renyi"\np = 0.5', n=12).reads
    b = parse_scenario(
        GMM.replace("n = 6", "n = 12").replace("seed = 1", "seed = 2")
        + '\n[topology]\nname = "erdos_renyi"\np = 0.5'
    ).scenario.wiring(Path("."))
    assert not np.array_equal(a, b.reads)  # another run seed, another graph
    assert np.array_equal(a, wiring('name = "erdos_renyi"\np = 0.5', n=12).reads)  # same seed, same graph
    own = wiring('name = "small_world"\nneighbours = 2\np = 0.5\nseed = 7', n=12).reads
    assert np.array_equal(own, wiring('name = "small_world"\nneighbours = 2\np = 0.5\nseed = 7', n=12).reads)


def test_edge_list_by_name_and_index_with_communities(tmp_path):
    (tmp_path / "edges.txt").write_text("# who reads whom\nann bob\n1 2   # bob -> cy\ncy,ann\n")
    text = FAKE_SCENARIO + textwrap.dedent("""
        [topology]
        name = "edge_list"
        file = "edges.txt"
        self_posts = false
        communities = { left = ["ann"], right = ["bob", 2] }
    """)
    w = parse_scenario(text, source=tmp_path / "s.toml").scenario.wiring(tmp_path)
    assert w.reads.astype(int).tolist() == [[0, 0, 1], [1, 0, 0], [0, 1, 0]]
    assert w.communities == {"left": (0,), "right": (1, 2)}


@pytest.mark.parametrize(
    ("table", "expected"),
    [
        ('name = "rnig"', ["`topology`", "unknown topology 'rnig'", "ring"]),
        ('name = "ring"\nneighbors = 2', ["`topology.neighbors`", "did you mean `neighbours`"]),
        ('name = "ring"\nneighbours = 3', ["needs n > 6", "Fix:"]),
        ('name = "star"\nhub = 6', ["`topology.hub` = 6", "< n = 6"]),
        ('name = "communities"\nsizes = [2, 2]', ["sums to 4, expected n = 6"]),
        ('name = "edge_list"\nfile = "missing.txt"', ["no such file", "missing.txt"]),
        ('name = "x"\nmodule = "nowhere.py"', ["`module` = 'nowhere.py'", "no such file"]),
        ('name = "x"\nmodule = "os"', ["`module` = 'os'", "--trust-code"]),
    ],
)
def test_bad_topologies_are_clear_errors(tmp_path, table, expected):
    with pytest.raises(ConfigError) as info:
        wiring(table, base=tmp_path)
    for part in expected:
        assert part in str(info.value)


def test_edge_list_with_an_unknown_agent_names_file_and_line(tmp_path):
    (tmp_path / "e.txt").write_text("0 1\n0 zed\n")
    with pytest.raises(ConfigError) as info:
        wiring('name = "edge_list"\nfile = "e.txt"', base=tmp_path)
    assert "e.txt, line 2" in str(info.value) and "'zed' is not an agent" in str(info.value)


USER_TOPOLOGY = '''
import networkx as nx
from pydantic import Field

from lwd.internet.topologies import Topology, register


@register("pairs")
class Pairs(Topology):
    """Agents in pairs (0-1, 2-3, ...) that read only each other."""

    stride: int = Field(default=2, ge=1)

    def graph(self, ctx):
        g = nx.Graph()
        g.add_nodes_from(range(ctx.n))
        g.add_edges_from((i, i + 1) for i in range(0, ctx.n - 1, self.stride))
        return g

    def community_map(self, ctx):
        return {f"p{i // 2}": (i, i + 1) for i in range(0, ctx.n - 1, 2)}
'''


def test_a_topology_in_the_users_own_file_is_registered_by_decorator_and_used(tmp_path, monkeypatch):
    monkeypatch.setenv(TRUST_ENV, "1")
    (tmp_path / "my_topologies.py").write_text(USER_TOPOLOGY)
    path = write_scenario(tmp_path, GMM + '\n[topology]\nname = "pairs"\nmodule = "my_topologies.py"\n')
    loaded = load_scenario(path)
    assert "pairs" in topologies.available()
    w = loaded.scenario.wiring(tmp_path)
    assert w.reads.astype(int)[:2].tolist() == [[1, 1, 0, 0, 0, 0], [1, 1, 0, 0, 0, 0]]
    run = simulate_scenario(loaded)
    # models 0 and 1 only ever read each other's points: each sees 2/6 of the synthetic Internet
    assert (run.visible[1:] == run.store_size[1:, None] // 3).all()


def test_code_a_scenario_names_runs_only_with_trust_code(tmp_path, monkeypatch):
    """Reading a scenario must not run code: without --trust-code the file is named, not executed."""
    monkeypatch.delenv(TRUST_ENV, raising=False)
    marker = tmp_path / "ran"
    (tmp_path / "evil.py").write_text(
        f"open({str(marker)!r}, 'w').write('ran')\n" + USER_TOPOLOGY.replace("pairs", "evil")
    )
    path = write_scenario(tmp_path, GMM + '\n[topology]\nname = "evil"\nmodule = "evil.py"\n')
    result = CliRunner().invoke(app, ["gmm", str(path), "-o", str(tmp_path / "out"), "-q"])
    assert result.exit_code == 2 and "Traceback" not in result.output
    said = " ".join(result.output.split())
    assert "evil.py" in said and "--trust-code" in said and TRUST_ENV in said
    assert not marker.exists() and not (tmp_path / "out").exists()
    trusted = CliRunner().invoke(app, ["--trust-code", "gmm", str(path), "-o", str(tmp_path / "out"), "-q"])
    assert trusted.exit_code == 0, trusted.output
    assert marker.read_text() == "ran" and (tmp_path / "out" / "metrics.csv").is_file()


def test_a_topology_from_an_installed_package_is_found_by_entry_point(tmp_path, monkeypatch):
    """A package declaring `lwd.topologies` entry points (a real dist-info on sys.path) is found by name."""
    (tmp_path / "lwd_pairs_plugin.py").write_text(USER_TOPOLOGY.replace('@register("pairs")\n', ""))
    dist = tmp_path / "lwd_pairs_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: lwd-pairs-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[lwd.topologies]\nduos = lwd_pairs_plugin:Pairs\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert "duos" in topologies.available()
    loaded = load_scenario(write_scenario(tmp_path, GMM + '\n[topology]\nname = "duos"\nstride = 2\n'))
    assert type(loaded.scenario.topology).__name__ == "Pairs"
    assert (
        simulate_scenario(loaded).visible[-1, 0]
        < simulate_scenario(load_scenario(write_scenario(tmp_path, GMM, "c.toml"))).visible[-1, 0]
    )
    sys.modules.pop("lwd_pairs_plugin", None)
    topologies.TOPOLOGIES.pop("duos")


def test_register_refuses_a_class_that_is_not_a_topology():
    with pytest.raises(TypeError, match="subclass of lwd.internet.topologies.Topology"):
        topologies.register("nope")(dict)


def test_wire_refuses_a_graph_on_other_nodes():
    class Off(topologies.Topology):
        def graph(self, ctx):
            import networkx as nx

            return nx.path_graph(ctx.n + 1)

    with pytest.raises(ConfigError, match="unknown: 3"):
        Off(name="off").wire(TopologyContext(3, ("a", "b", "c"), 0, Path(".")))


def test_lwd_topologies_lists_them():
    result = CliRunner().invoke(app, ["topologies"])
    assert result.exit_code == 0
    for name in ("complete", "ring", "small_world", "edge_list", "neighbours"):
        assert name in result.output
