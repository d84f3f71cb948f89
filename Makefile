# The two commands of the README: `make run` and `make test`.
# DB_URL set in the environment -> that database is used and no local server is started.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PGDIR := var/pg
# The local cluster's port: PGPORT=..., or ELLA_DEVDB_PORT from the environment.
PGPORT ?= $(or $(ELLA_DEVDB_PORT),5432)
STAMP := $(VENV)/.installed

.PHONY: setup run test db-start db-stop db-url clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

# Start the embedded PostgreSQL (./var/pg, unix socket only) unless DB_URL is set.
db-start: $(STAMP)
ifndef DB_URL
	@ELLA_DEVDB_PORT=$(PGPORT) $(PY) -m ella.devdb start $(PGDIR) > /dev/null
endif

db-stop: $(STAMP)
	@ELLA_DEVDB_PORT=$(PGPORT) $(PY) -m ella.devdb stop $(PGDIR)

db-url: $(STAMP)
	@ELLA_DEVDB_PORT=$(PGPORT) $(PY) -m ella.devdb url $(PGDIR)

# Create (or bring up to date) the database, load the demo data and serve the API;
# re-running reuses what exists. The local cluster is the demo's own: analyses or users added
# there do not stop the demo (--force); a DB_URL given may be a lab's, which it refuses.
run: db-start
	@force=--force; [ -n "$${DB_URL}" ] && force=; \
	export DB_URL="$${DB_URL:-$$(ELLA_DEVDB_PORT=$(PGPORT) $(PY) -m ella.devdb url $(PGDIR))}"; \
		bin/ella-demo --check $$force && bin/ella-db make-production && bin/ella-demo $$force && \
		echo "Serving the API on http://$${HOST:-127.0.0.1}:$${PORT:-3114}/api/v1/ (its routes: /api/v1/docs/; Ctrl-C stops it; PORT=... for another port)" && \
		{ [ -z "$$force" ] || echo 'The bin/ tools in another shell: export DB_URL="$$(make -s db-url PGPORT=$(PGPORT))"'; } && \
		exec bin/ella-api

# The whole suite against a real PostgreSQL (a throwaway cluster per worker unless
# ELLA_TEST_DB_URL is set), in one pytest-xdist worker per core and one more (tests that wait
# for a lock, a server or a subprocess leave a core idle otherwise), at most 4 (each worker
# starts its own PostgreSQL). `make test TEST_WORKERS=1` runs it in one worker.
TEST_WORKERS ?= $(shell n=$$(nproc 2>/dev/null || echo 1); n=$$((n + 1)); [ "$$n" -gt 4 ] && n=4; echo $$n)

test: $(STAMP)
	$(PY) -m pytest -q -n $(TEST_WORKERS)

clean:
	rm -rf $(VENV) var .pytest_cache
