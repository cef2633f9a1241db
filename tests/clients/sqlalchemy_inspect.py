"""SQLAlchemy's reflection of a virtual table through the proxy: prints what inspect() sees as JSON.

Usage: python3 sqlalchemy_inspect.py mysql+pymysql://user:pw@127.0.0.1:port/db table
"""
import json
import sys

from sqlalchemy import create_engine, inspect

url, table = sys.argv[1], sys.argv[2]
engine = create_engine(url)
inspector = inspect(engine)
result = {
    "has_table": inspector.has_table(table),
    "tables": inspector.get_table_names(),
    "columns": [
        {"name": c["name"], "type": str(c["type"]), "nullable": c["nullable"]}
        for c in inspector.get_columns(table)
    ],
    "pk": inspector.get_pk_constraint(table)["constrained_columns"],
    "indexes": sorted(
        (i["name"], i["column_names"]) for i in inspector.get_indexes(table)
    ),
}
print(json.dumps(result))
