"""Estimators: pure functions from (architecture, GPU, split, engine settings) to memory and speed.

``memory`` (the vLLM memory budget), ``speed`` (decode and prefill time, SLO-limited capacity), ``deployment`` (one
deployment's whole estimate), ``calibrate`` (fitting the speed constants), ``rules_of_thumb`` (the articles' rules).
"""
