import json
import time
import unicodedata

import bcrypt
import psycopg

from api_client import Client
from ella.passwords import verify_password, hash_password
from _common import CHANGE, CURRENT, LOGIN, PASSWORD, make_user, sql, fast_hash


def test_print_behaviours(api_app, db_url, ella_config, tmp_path):
    from ella.deposit import users as domain
    make_user(db_url)
    c = Client(api_app)
    out = {}
    out["case_login"] = c.login("TestUser", PASSWORD).json
    # NFC vs NFD
    nfc = unicodedata.normalize("NFC", "Pässwörd-12")
    nfd = unicodedata.normalize("NFD", nfc)
    r = c.post(CHANGE, {"username": "testuser", "password": PASSWORD, "new_password": nfc})
    out["change_nfc"] = (r.status, r.json)
    out["login_nfd"] = (c.login("testuser", nfd).status, c.login("testuser", nfd).json)
    out["login_nfc"] = c.login("testuser", nfc).status
    r = c.post(CHANGE, {"username": "testuser", "password": nfc, "new_password": nfd})
    out["change_nfc_to_nfd"] = (r.status, r.json)
    # $2a$ and $2y$ hashes
    for prefix in (b"2a", b"2b"):
        h = bcrypt.hashpw(b"Secret-pass1", bcrypt.gensalt(4, prefix=prefix)).decode()
        out[f"verify_{prefix}"] = verify_password("Secret-pass1", h)
    h2y = "$2y$" + bcrypt.hashpw(b"Secret-pass1", bcrypt.gensalt(4)).decode()[4:]
    out["verify_2y"] = verify_password("Secret-pass1", h2y)
    out["hash_prefix"] = hash_password("Abc-12345")[:7]
    # duplicate usernames differing in case via add_many
    entries = [{"username": "TESTUSER", "first_name": "A", "last_name": "B", "email": None,
                "group": "g1"},
               {"username": "testuser\u0435", "first_name": "A", "last_name": "B",
                "email": None, "group": "g1"},
               {"username": " testuser ", "first_name": "A", "last_name": "B",
                "email": None, "group": "g1"}]
    with psycopg.connect(db_url) as conn:
        res = domain.add_many(conn, domain.parse_users("u.json", entries),
                              ella_config["user"]["auth"])
        conn.commit()
    out["add_many"] = [(r["username"], r["status"]) for r in res]
    out["users"] = sql(db_url, 'SELECT username FROM "user" ORDER BY id')
    # timing
    def t(u, p):
        s = time.perf_counter(); Client(api_app).login(u, p); return time.perf_counter() - s
    sql(db_url, 'UPDATE "user" SET password = %s WHERE username = %s',
        (hash_password("Secret-pass1"), "testuser"))
    out["t_unknown"] = min(t("nobody", "x") for _ in range(3))
    out["t_wrong"] = min(t("testuser", "x") for _ in range(3))
    print(json.dumps(out, indent=1, default=str))
