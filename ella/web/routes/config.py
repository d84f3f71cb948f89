"""Configuration: the application config as the UI reads it, annotation view configs."""

import copy

from ella import auth
from ella.config import USER_CONFIG_KEYS, merged_user_config
from ella.custom_annotation import custom_annotation_config
from ella.web.errors import NotFound
from ella.web.router import router

API = "/api/v1"


def _acmg_section():
    from ella.acmg.reference_data import acmg_config_section
    return acmg_config_section()


def user_config_for(conn, config, user_id):
    """The merged user config with ELLA's six keys present (null when not configured)."""
    group_config, own_config = auth.user_configs(conn, user_id)
    merged = merged_user_config(config, group_config, own_config)
    return {**{key: None for key in USER_CONFIG_KEYS}, **merged}


@router.route("GET", f"{API}/config/", auth="optional",
              summary="Application config; user.user_config is the caller's merged config")
def get_config(ctx):
    result = copy.deepcopy(ctx.config)
    result["acmg"] = _acmg_section()
    result["custom_annotation"] = custom_annotation_config()
    if ctx.user:
        result["user"]["user_config"] = user_config_for(ctx.conn, ctx.config, ctx.user["id"])
    return result


@router.route("GET", f"{API}/annotationconfigs/",
              summary="Annotation view configs by id (annotation_config_ids=1,2)")
def annotation_configs(ctx):
    ids = ctx.request.id_list_arg("annotation_config_ids", required=True)
    rows = dict(ctx.conn.execute("SELECT id, view FROM annotationconfig WHERE id = ANY(%s)",
                                 (ids,)).fetchall())
    missing = [i for i in ids if i not in rows]
    if missing:
        raise NotFound(f"No annotation config with id {missing[0]}")
    # An empty list (`annotation_config_ids=`) names none: an older ELLA UI asks so for an
    # analysis whose every variant is filtered out (ELLA: 500; a 400 showed the UI an error).
    return [{"id": i, "view": rows[i]} for i in ids]
