"""Packaged default settings (YAML), read as package resources."""
