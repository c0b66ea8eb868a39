"""``lwd run`` and ``lwd resume``: set up Algorithm 1 for a scenario, in a run folder, and drive it.

Setup checks everything a bad input can break — the scenario, the corpus, every agent's backend and model file,
the embedder, a Chroma server — before the run folder is created, so a refused run leaves nothing behind.
Folder contents::

    manifest.json   scenario (text, resolved, overrides, sha256), seeds, agents (backend, model file sha256,
                    sampling, prompt), embedder, store, corpus, versions
    scenario.toml   the scenario as it was read
    rounds/         initial.{json,npz} (A⁽⁰⁾) and round-NNNN.{json,npz}: the committed record of the run
    responses.csv   one row per response; metrics.csv: one row per round (views of rounds/)
    store/          the Chroma store (unless the scenario names a Chroma server)
    figures/        frobenius.png (paper Fig. 2), mds.png (paper Fig. 3)
"""

from __future__ import annotations

import secrets
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lwd.agents.registry import build_agent
from lwd.core.errors import ConfigError, RunFolderError, SetupError
from lwd.core.extras import require
from lwd.core.files import write_json
from lwd.internet.corpus import load_corpus
from lwd.internet.store import Post, PostStore
from lwd.metrics.embedders import load_embedder
from lwd.metrics.registry import DENSE_AGENTS
from lwd.metrics.remote import PROBE_TOLERANCE, probe_differs
from lwd.run.folder import (
    SETUP_DONE,
    check_new_folder,
    clear_setup,
    folder_lock,
    make_folder,
    setup_interrupted,
)
from lwd.run.kinds import RunKind
from lwd.run.manifest import MANIFEST, RunManifest, read_manifest, scenario_manifest
from lwd.run.rounds import RoundLog
from lwd.run.scenario import LoadedScenario, parse_scenario
from lwd.run.scheduler import Event, Simulation

if TYPE_CHECKING:
    from lwd.agents.agent import Agent

__all__ = [
    "Run",
    "Control",
    "check_installed",
    "check_llm_scenario",
    "prepare",
    "start_run",
    "resume_run",
    "recorded_scenario",
]

Gate = Callable[[int], None]


@dataclass
class Control:
    """How an interface steers a run from another thread: ``gate(t)`` is called before round t (it may block
    while paused, or raise to stop between rounds); :meth:`cancel` abandons the round in flight."""

    gate: Gate | None = None
    simulation: Simulation | None = field(default=None, repr=False)
    cancelled: bool = False

    def cancel(self) -> None:
        self.cancelled = True
        if self.simulation is not None:
            self.simulation.cancel()


@dataclass
class Run:
    """The parts of a run, ready to simulate."""

    loaded: LoadedScenario
    agents: list[Agent]
    embedder: Any
    corpus_texts: tuple[str, ...]
    corpus_info: dict
    fresh_texts: tuple[str, ...] = ()

    def close(self) -> None:
        for agent in self.agents:
            agent.model.close()
        self.embedder.close()


def check_installed() -> None:
    """The LLM mode's own dependencies (each backend checks its own when it is built)."""
    require("llm", "`lwd run` (the LLM mode)")


def check_llm_scenario(loaded: LoadedScenario) -> None:
    """Refuse a GMM scenario (no [[agents]]) at once, saying how it runs."""
    if loaded.scenario.kind is not RunKind.LLM:
        raise ConfigError(
            f"scenario {loaded.name!r} defines no [[agents]]: it is a GMM scenario",
            fix=f"run it with `lwd gmm {loaded.path or loaded.name}`",
        )


def prepare(loaded: LoadedScenario, base: Path | None = None) -> Run:
    """Build and load every part of the scenario; raise before anything is written if one cannot be used."""
    s = loaded.scenario
    check_llm_scenario(loaded)
    check_installed()
    base = base or loaded.base
    corpus = load_corpus(s.corpus.file, s.corpus.column, base)
    fresh_texts, fresh_info = _fresh_corpus(s, base)
    agents = [
        build_agent(a, query=s.query, samples=s.network.samples, base=base, policy=s.context.policy)
        for a in s.agents
    ]
    for agent in agents:
        agent.model.load()  # a corrupt model file fails here, not in round 0
        agent.fit(
            [], s.network.samples
        )  # L answers must leave room for a prompt: refused here, not in round 0
    embedder = load_embedder(s.embedder.model, s.embedder.device, s.embedder.batch_size, s.embedder.server)
    return Run(
        loaded,
        agents,
        embedder,
        corpus.texts,
        {"source": corpus.source, "sha256": corpus.sha256, "posts": len(corpus.texts), **fresh_info},
        fresh_texts,
    )


def _fresh_corpus(s, base: Path) -> tuple[tuple[str, ...], dict]:
    """The fresh human posts a regime injects: fresh_per_round × (T + 1) of them, read in order."""
    internet = s.internet
    if not internet.fresh_per_round:
        return (), {}
    fresh = load_corpus(internet.fresh_file, internet.fresh_column, base)
    needed = internet.fresh_per_round * (s.network.rounds + 1)
    if len(fresh.texts) < needed:
        raise SetupError(
            f"[internet] fresh_file {internet.fresh_file!r} has {len(fresh.texts)} posts; fresh_per_round = "
            f"{internet.fresh_per_round} for rounds 0..{s.network.rounds} needs {needed}",
            fix="add posts to the file, lower fresh_per_round, or run fewer rounds",
        )
    return fresh.texts[:needed], {"fresh": {"source": fresh.source, "sha256": fresh.sha256, "posts": needed}}


def start_run(
    loaded: LoadedScenario,
    out: Path,
    on_event: Callable[[Event], None] | None = None,
    until: int | None = None,
    control: Control | None = None,
) -> Path:
    """Prepare, create the run folder ``out`` and run rounds 0..T (or ..until)."""
    out = Path(out)
    check_new_folder(out, resumable=f"or continue that run with `lwd resume {out}`", restartable=True)
    run = prepare(loaded)
    s = loaded.scenario
    run_id = secrets.token_hex(4)
    # on a shared Chroma server every run gets its own collection
    collection = f"{s.store.collection}-{run_id}" if s.store.url else s.store.collection
    server = PostStore.open(url=s.store.url, collection=collection) if s.store.url else None  # reachable?
    try:
        make_folder(out)
        with folder_lock(out):  # a second process setting up here is refused before anything is touched
            try:
                if setup_interrupted(out):
                    clear_setup(out)  # a killed setup left only its first files: start it over
                store = server or PostStore.open(folder=out / "store", collection=collection)
                humans = [
                    Post(f"h{i:04d}", text, "human", -1, False, (), i)
                    for i, text in enumerate(run.corpus_texts)
                ]
                vectors = run.embedder.embed([p.text for p in humans])
                (out / "scenario.toml").write_text(loaded.text, encoding="utf-8")
                write_json(out / MANIFEST, _manifest(run, run_id, store, collection))
                log = RoundLog(out)
                log.write_initial(humans, vectors)  # the last file of setup: from here on it can resume
                store.add(humans, vectors)
                _simulate(run, store, log, on_event, until, control)
            except BaseException:
                if not (out / SETUP_DONE).exists():
                    shutil.rmtree(out, ignore_errors=True)  # nothing worth keeping was written
                raise
    finally:
        run.close()
    return out


def resume_run(
    folder: Path,
    on_event: Callable[[Event], None] | None = None,
    until: int | None = None,
    control: Control | None = None,
) -> int:
    """Continue an interrupted run from its first uncommitted round; returns that round."""
    folder = Path(folder)
    manifest = llm_manifest(folder)
    loaded = recorded_scenario(folder)
    _verify_scenario(folder, loaded, manifest)
    with folder_lock(folder):
        run = prepare(loaded)
        try:
            _verify_files(folder, run, manifest)
            store_info = manifest.store
            store = PostStore.open(
                folder / "store" if store_info["kind"] == "persistent" else None,
                store_info.get("url"),
                store_info["collection"],
            )
            log = RoundLog(folder)
            posts, vectors = log.expected_store()
            store.reconcile(posts, vectors, len(run.agents) <= DENSE_AGENTS)  # as the rounds wrote it
            log.write_tables()  # a crash may have cut the tables short of the committed rounds
            start = log.next_round()
            _simulate(run, store, log, on_event, until, control)
            return start
        finally:
            run.close()


def llm_manifest(folder: Path) -> RunManifest:
    """The manifest of an `lwd run` folder; a RunFolderError for anything else."""
    folder = Path(folder)
    if setup_interrupted(folder):
        raise RunFolderError(
            f"the setup of the run in {folder} was interrupted before round 0 (nothing was computed yet), "
            "so there is nothing to resume",
            fix=f"start it again: `lwd run SCENARIO --out {folder}` reuses this folder",
        )
    manifest = read_manifest(folder, "the --out folder of `lwd run`")
    if manifest.kind != RunKind.LLM:
        raise RunFolderError(
            f"{folder} holds a {manifest.kind} run; `lwd resume` continues `lwd run` folders",
            fix=_continue_hint(folder, manifest),
        )
    return manifest


def _continue_hint(folder: Path, manifest: RunManifest) -> str:
    if manifest.kind == RunKind.SWEEP:
        source = manifest.sweep_file
        again = (
            f"`lwd sweep {source} --out {folder}`"
            if source
            else f"`lwd run {manifest.scenario_file or 'SCENARIO'} --replicates R --out {folder}` (the same R)"
        )
        return f"a sweep finishes the cells it lacks when run again into its folder: {again}"
    scenario = manifest.scenario.path or "SCENARIO"
    return f"a GMM run takes seconds and is not resumed: run `lwd gmm {scenario}` again into a new folder"


def recorded_scenario(folder: Path) -> LoadedScenario:
    """The scenario an LLM run folder was started with (relative paths read next to the original file)."""
    manifest_path = Path(folder) / MANIFEST
    info = llm_manifest(folder).scenario
    original = Path(info.path) if info.path else None
    try:
        return parse_scenario(
            info.text, source=original or Path(folder) / "scenario.toml", overrides=info.overrides
        )
    except ConfigError as exc:
        raise RunFolderError(
            f"the scenario recorded in {manifest_path} no longer validates:\n{exc}",
            fix="restore the manifest, or start a new run from a valid scenario",
        ) from None


def _simulate(
    run: Run, store: PostStore, log: RoundLog, on_event, until: int | None, control: Control | None
) -> None:
    s = run.loaded.scenario
    simulation = Simulation(
        agents=run.agents,
        embedder=run.embedder,
        store=store,
        log=log,
        beta=s.network.betas,
        samples=s.network.samples,
        rounds=s.network.rounds,
        seed=s.seed,
        on_event=on_event,
        wiring=s.wiring(run.loaded.base),
        internet=s.internet,
        fresh_texts=run.fresh_texts,
        settings=s.metrics,
    )
    if control is not None:
        control.simulation = simulation
        if control.cancelled:
            simulation.cancel()
    simulation.run(until, control.gate if control else None)


def _verify_scenario(folder: Path, loaded: LoadedScenario, manifest: RunManifest) -> None:
    """Resume continues a run only with what the manifest pins. First the scenario (before any model is loaded):
    its text against the recorded sha256 and against scenario.toml, and the values it resolves to now."""
    info = manifest.scenario
    found = []
    if info.sha256 != loaded.sha256:
        found.append(f"scenario text: sha256 {_short(info.sha256)} recorded, {_short(loaded.sha256)} now")
    copy = folder / "scenario.toml"
    if copy.is_file() and copy.read_text(encoding="utf-8", errors="replace") != loaded.text:
        found.append(f"{copy.name} differs from the scenario text in {MANIFEST}")
    changed = _changed(info.resolved, loaded.scenario.model_dump(mode="json"))
    if changed:
        found.append(f"the resolved scenario differs at {', '.join(changed[:5])}")
    _refuse_changes(folder, found)


def _verify_files(folder: Path, run: Run, manifest: RunManifest) -> None:
    """Then the files the run reads: every agent's model file, the embedder's weights and the corpora."""
    found = []
    recorded = {a.get("name"): a for a in manifest.agents}
    for agent in run.agents:
        before, now = recorded.get(agent.name, {}).get("sha256"), agent.describe.get("sha256")
        if now and before != now:
            found.append(
                f"agent {agent.name!r}: model file {agent.describe.get('path')} sha256 {_short(before)} recorded, "
                f"{_short(now)} now"
            )
    embedder = run.embedder.describe()
    weights = embedder.get("weights_sha256")
    if weights is not None and manifest.embedder.get("weights_sha256") != weights:
        found.append(f"embedder {embedder.get('name')!r}: its weights differ from the recorded sha256")
    moved = probe_differs(manifest.embedder.get("probe"), embedder.get("probe"))
    if moved is not None and moved > PROBE_TOLERANCE:
        found.append(
            f"embedder {embedder.get('name')!r}: the server's vector of the probe text moved by {moved:.2g} "
            f"(more than {PROBE_TOLERANCE:g}): it serves another model than the one recorded"
        )
    for key in ("sha256", "fresh"):
        if manifest.corpus.get(key) != run.corpus_info.get(key):
            found.append(f"corpus: `{key}` differs from the recorded one")
    _refuse_changes(folder, found)


def _refuse_changes(folder: Path, found: list[str]) -> None:
    if found:
        raise RunFolderError(
            f"{folder / MANIFEST} pins what produced this run, and resuming now would use something else:\n  - "
            + "\n  - ".join(found),
            fix="restore the original files (or the manifest, if it was edited); to run the changed setup, start "
            "a new run",
        )


def _short(digest: object) -> str:
    return f"{digest[:12]}…" if isinstance(digest, str) and digest else repr(digest)


def _changed(recorded: Any, now: Any, path: str = "") -> list[str]:
    """Dotted keys whose recorded value differs from now (keys a newer lwd added are not differences)."""
    if isinstance(recorded, dict) and isinstance(now, dict):
        return [c for k, v in recorded.items() for c in _changed(v, now.get(k), f"{path}.{k}" if path else k)]
    return [] if recorded == now else [f"`{path}`"]


def _manifest(run: Run, run_id: str, store: PostStore, collection: str) -> dict:
    return scenario_manifest(
        RunKind.LLM,
        run.loaded,
        run_id=run_id,
        streams={
            "retrieval": "numpy PCG64 of SeedSequence(seed, spawn_key=(1000001, round, agent))",
            "sampling": "base = PCG64 of SeedSequence(seed, spawn_key=(1000002, round, agent)) draws an "
            "integer in [0, 2^31); sample l uses base + l, its a-th regeneration base + a*L + l",
        },
        query=run.loaded.scenario.query,
        agents=[
            {
                "name": a.name,
                **a.describe,
                "prompt": {
                    "style": a.prompt.style,
                    "system": a.prompt.system,
                    "template": a.prompt.template,
                    "answer_prefix": a.prompt.answer_prefix,
                    "query": a.prompt.query,
                    "layout": a.prompt.layout,
                },
                "max_retries": a.max_retries,
                "context_policy": str(a.context_policy),
            }
            for a in run.agents
        ],
        embedder=run.embedder.describe(),
        store={**store.describe, "collection": collection},
        corpus=run.corpus_info,
    )
