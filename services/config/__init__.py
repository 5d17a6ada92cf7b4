"""Declarative configuration: the config file's sections, validated then applied."""
