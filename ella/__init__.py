"""ELLA-compatible variant interpretation service."""

__version__ = "0.1.0"

# The ELLA (Alembic) revision our schema corresponds to. Kept in `alembic_version`
# so an adopted database stays usable by upstream ELLA 1.17.
ELLA_HEAD_REVISION = "4c2844fef850"

from ella import logrecords as _logrecords  # noqa: E402  (our log lines show undecodable bytes escaped)

_logrecords.install()
