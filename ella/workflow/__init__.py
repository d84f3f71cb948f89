"""The interpretation workflow: rounds and their state machine (`rounds`), assessment and
report creation (`assessments`), snapshots and the interpretation log (workflow.md)."""
