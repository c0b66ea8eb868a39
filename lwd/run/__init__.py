"""lwd.run — running experiments and writing their data (run layer).

Scenario files validated (:mod:`~lwd.run.scenario`), Algorithm 1 (:mod:`~lwd.run.scheduler`) over the run folder
and its round log (:mod:`~lwd.run.folder`, :mod:`~lwd.run.rounds`, :mod:`~lwd.run.manifest`), the LLM and GMM
modes (:mod:`~lwd.run.llm`, :mod:`~lwd.run.gmm`), the matched twin (:mod:`~lwd.run.twin`) and sweeps on Ray
(:mod:`~lwd.run.sweep`). Writes data only: tables of record and manifests; figures are the report's. Imports the
domain and the foundation, never the report or the interfaces.
"""
