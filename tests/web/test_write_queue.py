"""SQLite writers queue on one lock beside the database file (``Database.writing``)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy import text

from convrec.web.db import Database, check_database


def test_writes_commit_queue_on_the_lock_file_and_roll_back_on_error(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'studio.db'}"
    database = Database(url, check_database(url))
    with database.writing() as connection:
        connection.execute(text("CREATE TABLE hits (n INTEGER)"))
    assert (tmp_path / "studio.db.write-lock").exists()

    def add(count: int) -> None:
        for _ in range(count):
            with database.writing() as connection:
                connection.execute(text("INSERT INTO hits VALUES (1)"))

    threads = [threading.Thread(target=add, args=(25,)) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with pytest.raises(ZeroDivisionError), database.writing() as connection:
        connection.execute(text("INSERT INTO hits VALUES (1)"))
        raise ZeroDivisionError  # the insert above is rolled back
    with database.engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM hits")).scalar() == 200
    database.dispose()

