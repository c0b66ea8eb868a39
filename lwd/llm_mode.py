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

import json
import secrets
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from lwd.agents.agent import Agent
from lwd.agents.registry import build_agent
from lwd.internet.corpus import load_corpus
from lwd.internet.store import Post, PostStore
from lwd.rounds import RoundLog
from lwd.runfolder import RunFolderError, folder_lock, now_iso, versions, write_json
from lwd.scenario import LoadedScenario, ScenarioError, parse_scenario
from lwd.scheduler import Event, Simulation

__all__ = ["Run", "prepare", "start_run", "resume_run", "RunSetupError"]


class RunSetupError(RuntimeError):
    """A run that cannot start (or continue), with the reason and the fix."""


@dataclass
class Run:
    """The parts of a run, ready to simulate."""

    loaded: LoadedScenario
    agents: list[Agent]
    embedder: object
    corpus_texts: tuple[str, ...]
    corpus_info: dict
    fresh_texts: tuple[str, ...] = ()

    def close(self) -> None:
        for agent in self.agents:
            close = getattr(agent.model, "close", None)
            if close:
                close()


def prepare(loaded: LoadedScenario, base: Path | None = None) -> Run:
    """Build and load every part of the scenario; raise before anything is written if one cannot be used."""
    s = loaded.scenario
    if s.kind != "llm":
        raise RunSetupError(
            f"scenario {loaded.name!r} defines no [[agents]]: it is a GMM scenario. "
            f"Run it with `lwd gmm {loaded.path or loaded.name}`."
        )
    base = base or loaded.base
    corpus = load_corpus(s.corpus.file, s.corpus.column, base)
    fresh_texts, fresh_info = _fresh_corpus(s, base)
    agents = [
        build_agent(a, query=s.query, samples=s.network.samples, base=base, policy=s.context.policy)
        for a in s.agents
    ]
    for agent in agents:
        load = getattr(agent.model, "load", None)
        if load:
            load()  # a corrupt model file fails here, not in round 0
    from lwd.metrics.embedders import load_embedder

    embedder = load_embedder(s.embedder.model, s.embedder.device, s.embedder.batch_size)
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
        raise RunSetupError(
            f"[internet] fresh_file {internet.fresh_file!r} has {len(fresh.texts)} posts; fresh_per_round = "
            f"{internet.fresh_per_round} for rounds 0..{s.network.rounds} needs {needed}. Fix: add posts to the "
            "file, lower fresh_per_round, or run fewer rounds."
        )
    return fresh.texts[:needed], {"fresh": {"source": fresh.source, "sha256": fresh.sha256, "posts": needed}}


def start_run(
    loaded: LoadedScenario,
    out: Path,
    on_event: Callable[[Event], None] | None = None,
    until: int | None = None,
    gate: Callable[[int], None] | None = None,
) -> Path:
    """Prepare, create the run folder ``out`` and run rounds 0..T (or ..until)."""
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise RunFolderError(
            f"output folder {out} already exists and is not empty: choose another --out, or "
            f"continue that run with `lwd resume {out}`."
        )
    run = prepare(loaded)
    s = loaded.scenario
    run_id = secrets.token_hex(4)
    # on a shared Chroma server every run gets its own collection
    collection = f"{s.store.collection}-{run_id}" if s.store.url else s.store.collection
    server = PostStore.open(url=s.store.url, collection=collection) if s.store.url else None  # reachable?
    out.mkdir(parents=True, exist_ok=True)
    try:
        with folder_lock(out):
            store = server or PostStore.open(folder=out / "store", collection=collection)
            humans = [
                Post(f"h{i:04d}", text, "human", -1, False, (), i) for i, text in enumerate(run.corpus_texts)
            ]
            vectors = run.embedder.embed([p.text for p in humans])
            (out / "scenario.toml").write_text(loaded.text, encoding="utf-8")
            write_json(out / "manifest.json", _manifest(run, run_id, store, collection))
            log = RoundLog(out)
            log.write_initial(humans, vectors)
            store.add(humans, vectors)
            _simulate(run, store, log, on_event, until, gate)
    except BaseException:
        if not (out / "rounds" / "initial.json").exists():
            shutil.rmtree(out, ignore_errors=True)  # setup did not finish: nothing worth keeping was written
        raise
    finally:
        run.close()
    return out


def resume_run(
    folder: Path,
    on_event: Callable[[Event], None] | None = None,
    until: int | None = None,
    gate: Callable[[int], None] | None = None,
) -> int:
    """Continue an interrupted run from its first uncommitted round; returns that round."""
    folder = Path(folder)
    manifest_path = folder / "manifest.json"
    if not manifest_path.is_file():
        raise RunSetupError(
            f"{folder} is not an lwd run folder (no manifest.json). Expected the --out folder of "
            "an `lwd run`."
        )
    manifest = json.loads(manifest_path.read_text())
    if manifest.get("kind") != "llm":
        raise RunSetupError(
            f"{folder} holds a {manifest.get('kind')!r} run; only LLM runs can be resumed (a GMM "
            "run takes seconds: run it again)."
        )
    loaded = recorded_scenario(folder)
    with folder_lock(folder):
        run = prepare(loaded)
        try:
            _check_same_models(run, manifest)
            store_info = manifest["store"]
            store = PostStore.open(
                folder / "store" if store_info["kind"] == "persistent" else None,
                store_info.get("url"),
                store_info["collection"],
            )
            log = RoundLog(folder)
            posts, vectors = log.expected_store()
            store.reconcile(posts, vectors)
            start = log.next_round()
            _simulate(run, store, log, on_event, until, gate)
            return start
        finally:
            run.close()


def recorded_scenario(folder: Path) -> LoadedScenario:
    """The scenario an LLM run folder was started with (relative paths read next to the original file)."""
    manifest_path = Path(folder) / "manifest.json"
    info = json.loads(manifest_path.read_text())["scenario"]
    original = Path(info["path"]) if info.get("path") else None
    try:
        return parse_scenario(
            info["text"], source=original or Path(folder) / "scenario.toml", overrides=info["overrides"]
        )
    except ScenarioError as exc:
        raise RunSetupError(f"the scenario recorded in {manifest_path} no longer validates:\n{exc}") from None


def _simulate(run: Run, store: PostStore, log: RoundLog, on_event, until: int | None, gate=None) -> None:
    s = run.loaded.scenario
    Simulation(
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
    ).run(until, gate)


def _check_same_models(run: Run, manifest: dict) -> None:
    recorded = {a["name"]: a for a in manifest["agents"]}
    for agent in run.agents:
        before = recorded.get(agent.name, {}).get("sha256")
        now = agent.describe.get("sha256")
        if before and now and before != now:
            raise RunSetupError(
                f"agent {agent.name!r}: its model file {agent.describe.get('path')} changed since the "
                f"run started (sha256 {before[:12]}… then, {now[:12]}… now). Resuming would mix two "
                "models in one run. Fix: restore the original file, or start a new run."
            )


def _manifest(run: Run, run_id: str, store: PostStore, collection: str) -> dict:
    loaded, s = run.loaded, run.loaded.scenario
    return {
        "kind": "llm",
        "run_id": run_id,
        "created": now_iso(),
        "command": sys.argv,
        "scenario": {
            "name": loaded.name,
            "path": str(loaded.path.resolve()) if loaded.path else None,
            "sha256": loaded.sha256,
            "overrides": loaded.overrides,
            "text": loaded.text,
            "resolved": s.model_dump(mode="json"),
        },
        "seed": s.seed,
        "streams": {
            "retrieval": "numpy PCG64 of SeedSequence(seed, spawn_key=(1000001, round, agent))",
            "sampling": "base = PCG64 of SeedSequence(seed, spawn_key=(1000002, round, agent)) draws an "
            "integer in [0, 2^31); sample l uses base + l, its a-th regeneration base + a*L + l",
        },
        "network": s.network.model_dump(),
        "topology": s.wiring(loaded.base).describe(),
        "internet": s.internet.model_dump(),
        "query": s.query,
        "agents": [
            {
                "name": a.name,
                **a.describe,
                "prompt": {
                    "style": a.prompt.style,
                    "system": a.prompt.system,
                    "template": a.prompt.template,
                    "answer_prefix": a.prompt.answer_prefix,
                    "query": a.prompt.query,
                },
                "max_retries": a.max_retries,
                "context_policy": str(a.context_policy),
            }
            for a in run.agents
        ],
        "embedder": run.embedder.describe(),
        "store": {**store.describe, "collection": collection},
        "corpus": run.corpus_info,
        "versions": versions(),
    }
