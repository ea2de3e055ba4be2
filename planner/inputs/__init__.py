"""Inputs: reading files safely, validating them once, and the records the rest of the planner reads.

YAML with line numbers (``yaml_source``), error lines (``input_errors``), the scenario, the GPU catalog and its schema,
priced offers (``pricing``), the model library and model architectures from Hugging Face configs.
"""
