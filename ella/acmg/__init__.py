"""ACMG rule engine and reference data."""
