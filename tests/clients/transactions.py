"""Transactions as Python drivers use them, with autocommit off (their default): rollback, commit, a failed
statement inside a transaction, savepoints, a rolled-back delete and update; SQLAlchemy's ORM session rolling back
on error. Prints one JSON line: what a second connection saw after each step, and the error codes seen.

Usage: python3 transactions.py DRIVER host port user password database
DRIVER: pymysql | connector-pure | connector-c | sqlalchemy-orm (connector-c writes through `cursor(prepared=True)`:
server-side prepared statements from the C extension)
The table is `model_tx (id, tag VARCHAR(20) NOT NULL, n INT, …)`, empty at the start.
"""
import json
import sys

driver, host, port, user, password, database = sys.argv[1:7]
port = int(port)


def connect():
    """A DB-API connection with the driver's default: autocommit off."""
    if driver == "pymysql":
        import pymysql

        return pymysql.connect(host=host, port=port, user=user, password=password, database=database)
    import mysql.connector

    if driver == "connector-c" and not mysql.connector.HAVE_CEXT:
        sys.exit("mysql-connector-python's C extension does not load here (scripts/setup makes a venv where it does)")
    return mysql.connector.connect(
        host=host,
        port=port,
        user=user,
        password=password,
        database=database,
        use_pure=(driver == "connector-pure"),
        autocommit=False,
    )


def code(error):
    """The MySQL error code of a driver exception."""
    return getattr(error, "errno", None) or error.args[0]


def dbapi():
    out = {"seen": [], "errors": []}
    writer, reader = connect(), connect()
    reader.autocommit(True) if driver == "pymysql" else setattr(reader, "autocommit", True)

    def seen(label):
        cur = reader.cursor()
        cur.execute("SELECT tag, n FROM model_tx ORDER BY tag")
        out["seen"].append([label] + [list(row) for row in cur.fetchall()])

    cur = writer.cursor(prepared=True) if driver == "connector-c" else writer.cursor()
    cur.execute("INSERT INTO model_tx (tag, n) VALUES (%s, %s), (%s, %s)", ("a", 1, "b", 2))
    seen("uncommitted insert")
    writer.rollback()
    seen("after rollback")
    cur.execute("INSERT INTO model_tx (tag, n) VALUES (%s, %s)", ("c", 3))
    writer.commit()
    seen("after commit")
    cur.execute("UPDATE model_tx SET n = n + 10 WHERE tag = %s", ("c",))
    try:
        cur.execute("INSERT INTO model_tx (tag, n) VALUES (%s, %s)", (None, 4))
    except Exception as e:  # the failed statement undoes only itself
        out["errors"].append(code(e))
    cur.execute("SELECT n FROM model_tx WHERE tag = 'c'")
    out["own update kept"] = cur.fetchall()[0][0]
    writer.rollback()
    seen("update rolled back")
    cur.execute("INSERT INTO model_tx (tag, n) VALUES ('d', 4)")
    cur.execute("SAVEPOINT s1")
    cur.execute("INSERT INTO model_tx (tag, n) VALUES ('e', 5)")
    cur.execute("ROLLBACK TO SAVEPOINT s1")
    writer.commit()
    seen("savepoint")
    cur.execute("DELETE FROM model_tx WHERE tag = 'c'")
    seen("uncommitted delete")
    writer.rollback()
    seen("delete rolled back")
    writer.close()
    # A connection closed with work uncommitted loses it.
    closing = connect()
    closing.cursor().execute("INSERT INTO model_tx (tag, n) VALUES ('f', 6)")
    closing.close()
    seen("closed without commit")
    return out


def orm():
    from sqlalchemy import Column, BigInteger, Integer, String, create_engine, select, func
    from sqlalchemy.exc import DBAPIError
    from sqlalchemy.orm import Session, declarative_base

    Base = declarative_base()

    class Row(Base):
        __tablename__ = "model_tx"
        id = Column(BigInteger, primary_key=True)
        tag = Column(String(20), nullable=False)
        n = Column(Integer)

    engine = create_engine(f"mysql+pymysql://{user}:{password}@{host}:{port}/{database}")
    out = {"seen": [], "errors": []}

    def seen(label):
        with Session(engine) as s:
            rows = s.execute(select(Row.tag, Row.n).order_by(Row.tag)).all()
            out["seen"].append([label] + [list(r) for r in rows])

    with Session(engine) as session:
        session.add_all([Row(tag="a", n=1), Row(tag="b", n=2)])
        session.flush()
        seen("flushed, not committed")
        session.rollback()
        seen("after rollback")
        session.add(Row(tag="c", n=3))
        session.commit()
        seen("after commit")
        c = session.scalars(select(Row).where(Row.tag == "c")).one()
        c.n = 30
        session.add(Row(tag=None, n=4))
        try:
            session.commit()
        except DBAPIError as e:  # the unit of work fails; the session rolls everything back
            out["errors"].append(code(e.orig))
            session.rollback()
        seen("failed unit of work")
        with session.begin_nested():
            session.add(Row(tag="d", n=4))
        try:
            with session.begin_nested():
                session.add(Row(tag="e", n=5))
                session.flush()
                raise RuntimeError("undo the nested part")
        except RuntimeError:
            pass
        session.commit()
        seen("nested transactions")
        out["count"] = session.scalar(select(func.count()).select_from(Row))
    return out


print(json.dumps(orm() if driver == "sqlalchemy-orm" else dbapi()))
