"""Server-side cursors through mysql-connector-python (pure Python): a statement executed with
CURSOR_TYPE_READ_ONLY, its rows fetched three at a time with COM_STMT_FETCH, a plain query between two fetches.
Prints the rows and the cursor flags of each step as JSON, to compare a model table with its native twin.
Usage: python3 cursors.py host port user password database   (table model_company with the rows
`Acme`..`Hub`, employees 0, 10, .., 70)"""
import json
import sys

import mysql.connector

CURSOR_EXISTS = 0x0040
LAST_ROW_SENT = 0x0080

host, port, user, password, database = sys.argv[1:6]
conn = mysql.connector.connect(host=host, port=int(port), user=user, password=password,
                               database=database, use_pure=True, autocommit=True)
cur = conn.cursor()

steps = []
stmt = conn.cmd_stmt_prepare(
    b"SELECT name, employees FROM model_company WHERE employees >= ? ORDER BY employees")
_, columns, eof = conn.cmd_stmt_execute(stmt["statement_id"], data=(10,),
                                        parameters=stmt["parameters"], flags=1)
steps.append({"opened": bool(eof["status_flag"] & CURSOR_EXISTS),
              "columns": [c[0] for c in columns]})
fetched = 0
while True:
    conn.cmd_stmt_fetch(stmt["statement_id"], 3)
    rows, eof = conn.get_rows(binary=True, columns=columns)
    status = eof["status_flag"]
    steps.append({"rows": [[r[0].decode() if isinstance(r[0], bytes) else r[0], r[1]] for r in rows],
                  "more": bool(status & CURSOR_EXISTS), "last": bool(status & LAST_ROW_SENT)})
    fetched += 1
    if fetched == 1:
        # Another statement while the cursor is open.
        cur.execute("SELECT COUNT(*) FROM model_company")
        steps.append({"count": cur.fetchone()[0]})
    if status & LAST_ROW_SENT or not rows:
        break
try:
    conn.cmd_stmt_fetch(stmt["statement_id"], 3)
    conn.get_rows(binary=True, columns=columns)
except mysql.connector.Error as e:
    steps.append({"error": e.errno})
conn.cmd_stmt_close(stmt["statement_id"])
print(json.dumps(steps))
