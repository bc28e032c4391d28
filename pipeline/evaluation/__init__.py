"""Evaluations: each module is a sub-command of `evaluate` (HELP, add_arguments, main)."""
