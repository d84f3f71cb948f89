"""Importing this package registers every API route on `ella.web.router.router`: each module
of this package is one API area and registers its routes when imported."""

import importlib
import pkgutil

for _module in sorted(m.name for m in pkgutil.iter_modules(__path__)):
    importlib.import_module(f"{__name__}.{_module}")
