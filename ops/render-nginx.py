#!/usr/bin/env python3
"""Render ops/nginx.conf (a template) for this site: `render-nginx.py [OUTPUT]`.

OUTPUT defaults to SOCKET_DIR/nginx.conf. The placeholders and their environment variables
are listed at the top of ops/nginx.conf. Exits 1 with one line on a bad setting.
"""

import os
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from ella.config import ConfigError, load_config, max_upload_size  # noqa: E402
from ella.web.http import MAX_JSON_BODY  # noqa: E402
from ella.web.multipart import FORM_OVERHEAD  # noqa: E402

PLACEHOLDER = re.compile(r"\$\{([A-Z_]+)\}")


def values(environ):
    def get(name, default):
        return environ.get(name) or default

    socket_dir = get("SOCKET_DIR", "/socket")
    config = load_config(environ=environ)
    upload = max_upload_size(config)
    # Absolute: nginx reads a relative root from its own prefix, not from our directory.
    ui_root = os.path.abspath(get("ELLA_UI_PATH", str(HERE / "webui-placeholder")))
    if not os.path.isfile(os.path.join(ui_root, "index.html")):
        raise ConfigError(f"ELLA_UI_PATH={ui_root}: no index.html there (a build of ELLA's web UI)")
    port = get("PORT", "3114")
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"environment variable PORT must be a port number, got {port!r}")
    return {
        "PORT": port,
        "LOGPATH": get("LOGPATH", "/logs"),
        "SOCKET_DIR": socket_dir,
        "API_UPSTREAM": get("API_UPSTREAM", f"unix:{socket_dir}/api.sock"),
        "UI_ROOT": ui_root,
        # The API's own limits answer first: the attachment plus its form, and the JSON
        # bodies (import jobs carry whole VCFs).
        "MAX_BODY": str(max(upload + FORM_OVERHEAD, MAX_JSON_BODY) + 1024 * 1024),
        "TMP_DIR": get("TMP_DIR", "/tmp"),
        "MIME_TYPES": get("MIME_TYPES", "/etc/nginx/mime.types"),
        "ACCESS_LOG": get("ACCESS_LOG", "/dev/stdout"),
    }


# Where a placeholder's value comes from, for the messages (the others are named alike).
SOURCES = {"UI_ROOT": "ELLA_UI_PATH"}
# Characters nginx.conf cannot take in an unquoted value: a blank ends it, `#` starts a
# comment, `$` a variable, the rest end or nest directives.
UNSAFE = re.compile(r"[\s;{}\"'#$\\]")


def render(template, mapping):
    def substitute(match):
        name = match.group(1)
        if name not in mapping:
            raise ConfigError(f"ops/nginx.conf: unknown placeholder ${{{name}}}")
        value = mapping[name]
        if UNSAFE.search(value) or not value:
            raise ConfigError(f"{SOURCES.get(name, name)}: nginx.conf cannot take {value!r} "
                              "(a blank or one of ; { } \" ' # $ \\)")
        return value
    return PLACEHOLDER.sub(substitute, template)


def main(argv):
    try:
        mapping = values(os.environ)
        text = render((HERE / "nginx.conf").read_text(), mapping)
    except ConfigError as error:
        print(f"render-nginx: {error}", file=sys.stderr)
        return 1
    output = Path(argv[1]) if len(argv) > 1 else Path(mapping["SOCKET_DIR"]) / "nginx.conf"
    try:
        output.write_text(text)
    except OSError as error:  # a full or read-only SOCKET_DIR: one line, not a traceback
        print(f"render-nginx: cannot write {output}: {error.strerror}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
