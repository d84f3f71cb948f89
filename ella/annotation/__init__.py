"""Annotation: converters from VCF INFO fields to ELLA's annotation JSON, and its config."""
