"""The five boards, built from Python so their JSON is generated, not hand-edited.

`python -m dashboards.build.generate` writes them to `dashboards/boards/`; a
unit test checks the committed files equal what this package builds.
"""

from __future__ import annotations

from dashboards.build.boards import account, churn, pipeline, portfolio, work_to_keep
from dashboards.build.boards.base import Board
from dashboards.build.boards.portfolio import QuadrantLines

__all__ = ["BOARDS", "Board", "QuadrantLines", "all_boards"]


def all_boards(lines: QuadrantLines | None = None) -> dict[str, Board]:
    """File stem -> board, in menu order."""
    return {
        "portfolio": portfolio.board(lines),
        "work-to-keep": work_to_keep.board(),
        "churn-risk": churn.board(),
        "account": account.board(),
        "pipeline": pipeline.board(),
    }


BOARDS = all_boards()
