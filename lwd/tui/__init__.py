"""lwd.tui — the terminal UI (Textual): a view over the same scheduler, run folders and GMM proxy as the CLI.

Needs the ``[tui]`` extra (textual, textual-plotext). Entry point: ``lwd tui``.
"""

__all__ = ["LwdApp"]


def __getattr__(name: str):
    if name == "LwdApp":
        from lwd.tui.app import LwdApp

        return LwdApp
    raise AttributeError(name)
