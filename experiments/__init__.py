"""Experiment procedures, each a package holding its procedure, analysis, plot and views.

Procedures register through the `avlab.procedures` entry points in pyproject.toml; avlab's
core finds them there (avlab.registry) and never imports this package by name.
"""
