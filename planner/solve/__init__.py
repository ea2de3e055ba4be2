"""Solve: the integer program (``formulation``), the solver backends, baselines and explanations of infeasibility.

The only package that imports OR-Tools (inside functions, so importing it stays cheap)."""
