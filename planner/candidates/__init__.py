"""Candidates: every deployment (GPU type x TP x PP) of every model, with the rejected ones and their reasons, and the
device-sharing engines and patterns."""
