"""Importers that write into the ELLA database (gene panels first; analyses etc. later).

Each deposit takes an open connection and plain values, runs in one transaction and
returns a plain dict describing what it did."""
