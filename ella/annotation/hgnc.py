"""Offline HGNC lookups for the VEP converter (spec/import.md 3.3).

The two gzip tables in `data/` (see `data/README.md` for their provenance) are read on first
use and kept for the life of the process:

- `hgnc_symbols_id.txt.gz`: symbol -> HGNC id; only *approved* symbols (flag 1) are used for
  symbol lookups, and they give the approved symbol of an id.
- `hgnc_ncbi_ensembl_geneids.txt.gz`: Ensembl gene id (ENSG...) or NCBI gene id -> HGNC id.
"""

import gzip
import threading
from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent / "data"
SYMBOLS_FILE = DATA_DIR / "hgnc_symbols_id.txt.gz"
GENEIDS_FILE = DATA_DIR / "hgnc_ncbi_ensembl_geneids.txt.gz"

_lock = threading.Lock()
_tables = None  # (approved symbol -> id, id -> approved symbol, gene id -> id)


def _load():
    symbol_to_id, id_to_symbol, gene_to_id = {}, {}, {}
    with gzip.open(SYMBOLS_FILE, "rt", encoding="utf-8") as fh:
        for line in fh:
            if line.startswith("#"):
                continue
            parts = line.rstrip("\n").split("\t")
            if len(parts) < 3 or parts[2].strip() != "1":
                continue
            hgnc_id = int(parts[1])
            symbol_to_id[parts[0]] = hgnc_id
            id_to_symbol.setdefault(hgnc_id, parts[0])
    with gzip.open(GENEIDS_FILE, "rt", encoding="utf-8") as fh:
        for line in fh:
            if line.startswith("#"):
                continue
            parts = line.rstrip("\n").split("\t")
            if not parts[0].strip():
                continue
            hgnc_id = int(parts[0])
            for gene_id in parts[1:3]:
                gene_id = gene_id.strip()
                if gene_id:
                    gene_to_id.setdefault(gene_id, hgnc_id)
    return symbol_to_id, id_to_symbol, gene_to_id


def _get_tables():
    global _tables
    if _tables is None:
        with _lock:
            if _tables is None:
                _tables = _load()
    return _tables


def id_from_symbol(symbol):
    """HGNC id of an approved symbol (`BRCA1` -> 1100), None when unknown or not approved."""
    if not symbol:
        return None
    return _get_tables()[0].get(symbol)


def symbol_from_id(hgnc_id):
    """Approved symbol of an HGNC id (1101 -> `BRCA2`), None when unknown."""
    if hgnc_id is None:
        return None
    return _get_tables()[1].get(int(hgnc_id))


def id_from_gene(gene_id):
    """HGNC id of an Ensembl (`ENSG00000139618` -> 1101) or NCBI (`672` -> 1100) gene id."""
    if not gene_id:
        return None
    return _get_tables()[2].get(str(gene_id).strip())
