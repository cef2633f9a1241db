"""Python drivers over TLS through the proxy: each connects with the proxy's certificate as its CA, creates a model,
writes and reads it, and reports the TLS version its socket negotiated. Prints one JSON line.

Usage: python3 tls.py host port user password database ca.pem
"""
import json
import sys

host, port, user, password, database, ca = sys.argv[1:7]
port = int(port)
seen = {}

import pymysql

conn = pymysql.connect(host=host, port=port, user=user, password=password, database=database,
                       ssl={"ca": ca}, autocommit=True)
with conn.cursor() as cursor:
    cursor.execute("CREATE TABLE model_secret (code VARCHAR(20), INDEX (code))")
    cursor.execute("INSERT INTO model_secret (code) VALUES (%s), (%s)", ("a", "b"))
    cursor.execute("SELECT code FROM model_secret WHERE code > %s ORDER BY code", ("0",))
    seen["pymysql"] = {"rows": [row[0] for row in cursor.fetchall()], "tls": conn._sock.version()}
conn.close()

import mysql.connector

conn = mysql.connector.connect(host=host, port=port, user=user, password=password, database=database,
                               ssl_ca=ca, ssl_verify_cert=True, use_pure=True, autocommit=True)
cursor = conn.cursor(prepared=True)
cursor.execute("SELECT code FROM model_secret WHERE code = ?", ("b",))
seen["connector"] = {"rows": [row[0] for row in cursor.fetchall()], "tls": conn._socket.sock.version()}
conn.close()
print(json.dumps(seen))
