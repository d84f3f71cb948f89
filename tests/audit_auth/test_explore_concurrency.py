import threading

from api_client import Client
from _common import CHANGE, CURRENT, PASSWORD, make_user, sql


def test_parallel_wrong_logins_lock_exactly(api_app, db_url):
    make_user(db_url)
    results = []

    def attempt(pw):
        results.append(Client(api_app).login("testuser", pw).json)

    threads = [threading.Thread(target=attempt, args=("wrong",)) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    counter = sql(db_url, 'SELECT incorrect_logins FROM "user"')[0][0]
    print(counter, results)
    assert counter == 6
    assert Client(api_app).login("testuser", PASSWORD).status == 401


def test_parallel_password_changes_only_one_wins(api_app, db_url):
    make_user(db_url)
    results = []

    def change(new):
        r = Client(api_app).post(CHANGE, {"username": "testuser", "password": PASSWORD,
                                          "new_password": new})
        results.append((new, r.status))

    threads = [threading.Thread(target=change, args=(f"New-pass-{i}x",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(results)
    assert sorted(s for _, s in results) == [200, 401, 401, 401]
