"""COM_CHANGE_USER and COM_RESET_CONNECTION as mysql-connector-python and its pool use them, through the proxy.
Prints one JSON line: the tables each login sees, the error codes seen, and what a pooled connection keeps.

Usage: python3 change_user.py DRIVER host port database
DRIVER: connector-pure | connector-c
Tenant 1 (acme) owns model_one, tenant 2 (globex) model_two, one row each.
"""
import json
import sys

import mysql.connector
from mysql.connector import pooling

driver, host, port, database = sys.argv[1:5]
options = dict(host=host, port=int(port), database=database, use_pure=(driver == "connector-pure"))


def tables(conn):
    cursor = conn.cursor()
    cursor.execute("SHOW TABLES")
    names = [row[0] for row in cursor]
    cursor.close()
    return names


def error_code(conn, sql):
    cursor = conn.cursor()
    try:
        cursor.execute(sql)
        cursor.fetchall()
    except mysql.connector.Error as error:
        return error.errno
    finally:
        cursor.close()
    return None


seen = {}
conn = mysql.connector.connect(user="acme", password="acme-pw", **options)
seen["first"] = tables(conn)
conn.cmd_change_user(username="globex", password="globex-pw", database=database)
seen["changed"] = tables(conn)
cursor = conn.cursor()
cursor.execute("SELECT tag FROM model_two")
seen["rows"] = [row[0] for row in cursor]
cursor.close()
seen["refused"] = error_code(conn, "SELECT * FROM model_one")
conn.close()

other = mysql.connector.connect(user="acme", password="acme-pw", **options)
try:
    other.cmd_change_user(username="globex", password="wrong", database=database)
    seen["wrong_password"] = None
except mysql.connector.Error as error:
    seen["wrong_password"] = error.errno

pool = pooling.MySQLConnectionPool(pool_name="p", pool_size=1, pool_reset_session=True, user="acme",
                                   password="acme-pw", **options)
pooled = pool.get_connection()
cursor = pooled.cursor()
cursor.execute("SET @kept = 5")
cursor.close()
pooled.close()  # back to the pool, which resets the session
pooled = pool.get_connection()
cursor = pooled.cursor()
cursor.execute("SELECT @kept")
seen["after_reset"] = cursor.fetchone()[0]
cursor.close()
seen["pooled"] = tables(pooled)
pooled.close()
print(json.dumps(seen))
