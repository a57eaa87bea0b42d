"""The planner's program as HiGHS takes it: columns, rows in CSR, a solve, and a solve again with
columns fixed at 0 (the planner's way to take out a battery's charge and discharge in one slot).

Rules of this module as of smartgrid.planner: no asyncio, no clock reads, no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import highspy
import numpy as np

MIP_GAP = 5e-3  # with the minimum current held: solved to within 0.5 % of the best bound


class Lp:
    """Columns with bounds and costs, rows in CSR: built in Python lists, handed to HiGHS at once."""

    def __init__(self) -> None:
        self.lb: list[float] = []
        self.ub: list[float] = []
        self.cost: list[float] = []
        self.row_lo: list[float] = []
        self.row_hi: list[float] = []
        self.starts: list[int] = []
        self.index: list[int] = []
        self.value: list[float] = []
        self.semi: list[int] = []  # semi-continuous columns: 0 or within [lb, ub]
        self.time_limit_s = math.inf
        self._h: highspy.Highs | None = None

    def col(self, lb: float, ub: float, cost: float = 0.0) -> int:
        self.lb.append(lb)
        self.ub.append(ub)
        self.cost.append(cost)
        return len(self.lb) - 1

    def row(self, lo: float, hi: float, cols: Sequence[int], coefs: Sequence[float]) -> None:
        self.starts.append(len(self.index))
        self.index.extend(cols)
        self.value.extend(coefs)
        self.row_lo.append(lo)
        self.row_hi.append(hi)

    def solve(self) -> tuple[str, np.ndarray, float]:
        h = highspy.Highs()  # type: ignore[no-untyped-call]
        h.setOptionValue("output_flag", False)
        h.setOptionValue("threads", 1)
        n = len(self.lb)
        h.addVars(n, np.asarray(self.lb, dtype=float), np.asarray(self.ub, dtype=float))
        h.changeColsCost(n, np.arange(n, dtype=np.int32), np.asarray(self.cost, dtype=float))
        if self.row_lo:
            h.addRows(
                len(self.row_lo),
                np.asarray(self.row_lo, dtype=float),
                np.asarray(self.row_hi, dtype=float),
                len(self.index),
                np.asarray(self.starts, dtype=np.int32),
                np.asarray(self.index, dtype=np.int32),
                np.asarray(self.value, dtype=float),
            )
        if self.semi:
            h.setOptionValue("mip_rel_gap", MIP_GAP)
            h.setOptionValue("time_limit", self.time_limit_s)
            h.changeColsIntegrality(
                len(self.semi),
                np.asarray(self.semi, dtype=np.int32),
                np.full(len(self.semi), highspy.HighsVarType.kSemiContinuous),
            )
        self._h = h
        return self._run()

    def solve_again_with_zero(self, cols: Sequence[int]) -> tuple[str, np.ndarray, float]:
        """Fix these columns at 0 and solve again from where the last solve ended."""
        index = np.asarray(cols, dtype=np.int32)
        zeros = np.zeros(len(index))
        assert self._h is not None, "solve() first"
        self._h.changeColsBounds(len(index), index, zeros, zeros)
        if self.semi:  # one time limit for all the solves (HiGHS' run time adds up over them)
            self._h.setOptionValue("time_limit", max(0.05, self.time_limit_s - self._h.getRunTime()))
        return self._run()

    def _run(self) -> tuple[str, np.ndarray, float]:
        h = self._h
        assert h is not None
        h.run()
        status = h.modelStatusToString(h.getModelStatus())
        if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
            return status, np.zeros(len(self.lb)), math.nan
        return status, np.asarray(h.getSolution().col_value, dtype=float), float(h.getInfo().objective_function_value)


SWAP_ROUNDS = 3  # at most this many solves again to take out a battery's charge and discharge in one slot


def battery_swaps(x: np.ndarray, bat_cols: dict[str, list[tuple[int, int, int, int, int, int]]]) -> list[int]:
    """Columns that put a battery's minor direction to 0 in each slot where the plan both charges and
    discharges it. The battery follows its net power: a slot's charge and discharge together are a swap it
    never makes, and one the program would use to relabel its stock (give the green out, take grey in)."""
    zero: list[int] = []
    for rows in bat_cols.values():
        for cg, cx, dg, dx, _, _ in rows:
            charge, discharge = x[cg] + x[cx], x[dg] + x[dx]
            if min(charge, discharge) > 1e-6:
                zero += [dg, dx] if charge >= discharge else [cg, cx]
    return zero
