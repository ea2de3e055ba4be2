"""The command line: a thin layer over the pipeline. ``app`` holds the typer app and shared options;
``inspect_commands`` and ``solve_commands`` register the commands."""
