"""lwd — LLM Web Dynamics: model collapse in a network of LLMs that read from and post to a simulated Internet.

Layers (each a package with its contract in its docstring): ``lwd.agents`` (LLM backends), ``lwd.internet``
(the shared post store and retrieval), ``lwd.metrics`` (D and ‖D‖_F), ``lwd.gmm`` (the GMM proxy),
``lwd.scenarios`` (shipped scenario files); the core (scenario models, run folders, the CLI) lives here.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("llm-web-dynamics")
except PackageNotFoundError:  # running from a source tree without an install
    __version__ = "0+unknown"

__all__ = ["__version__"]
