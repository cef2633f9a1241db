"""The metadata queries BI tools send when they connect to a MySQL/MariaDB database and browse a table, replayed with
PyMySQL against `model_bi`: through the proxy (a model table) or directly (its native twin). Prints each answer as a
JSON line for the caller to compare between the two sides.

Sources are those summarised in /work/shared/reference/proxy-anchors.md §2 (the tools' public source files named
there, at the versions named there); each group below names its tool and file. Statements quoted from those files
are sent as written there, with the database and table names filled in as the tool does; where §2 only describes a
query's shape (Metabase's column query, Grafana's column picker), the statement is written after that description
and says so.

Normalised, because the two sides legitimately differ (nothing else is):
- the database name: the proxy's database and the native twin's have different names; it is printed as `<db>`;
- TABLES / SHOW TABLE STATUS statistics: AUTO_INCREMENT, TABLE_ROWS/Rows, AVG_ROW_LENGTH, DATA_LENGTH,
  MAX_DATA_LENGTH, INDEX_LENGTH, DATA_FREE, CREATE_TIME, UPDATE_TIME, CHECK_TIME (and their SHOW TABLE STATUS
  names): estimates and times of different physical storage, printed as `<stat>`;
- the `AUTO_INCREMENT=n` table option of SHOW CREATE TABLE, left out: a model's ids come from one counter global
  to the backend (so the proxy shows none), a native table's from its own;
- index CARDINALITY (STATISTICS, SHOW INDEX): an estimate, as the TABLES statistics are;
- the values of `id`, `created_at`, `updated_at` in row previews (`SELECT *`): the same reason, and wall clock.

Usage: python3 bi_replay.py HOST PORT USER PASSWORD DATABASE
"""
import datetime
import decimal
import json
import re
import sys

import pymysql

host, port, user, password, database = sys.argv[1:6]
TABLE = "model_bi"

STATS = {
    "AUTO_INCREMENT", "TABLE_ROWS", "AVG_ROW_LENGTH", "DATA_LENGTH", "MAX_DATA_LENGTH", "INDEX_LENGTH",
    "DATA_FREE", "CREATE_TIME", "UPDATE_TIME", "CHECK_TIME",
    # SHOW TABLE STATUS spells them so.
    "Auto_increment", "Rows", "Avg_row_length", "Data_length", "Max_data_length", "Index_length", "Data_free",
    "Create_time", "Update_time", "Check_time",
    # Index statistics (information_schema.STATISTICS, SHOW INDEX): estimates too.
    "CARDINALITY", "Cardinality",
}
VOLATILE_ROW_VALUES = {"id", "created_at", "updated_at"}

conn = pymysql.connect(host=host, port=int(port), user=user, password=password, database=database,
                       autocommit=True)


def plain(value):
    if isinstance(value, (bytes, bytearray)):
        value = value.decode("utf-8", "replace")
    if isinstance(value, str):
        return value.replace(database, "<db>")
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, (datetime.date, datetime.datetime, datetime.timedelta)):
        return str(value)
    return value


def ask(tool, sql, preview=False, metadata=True):
    """Sends `sql` and prints the tool, the statement (database name normalised), the result's column names (and,
    for data queries, their type codes) and its rows, or the error code. The proxy answers SHOW and
    information_schema for model tables with text columns where the server uses integer or BLOB types (named in
    docs/clients.md), so for those (`metadata`) the type codes are left out and values compared as text."""
    line = {"tool": tool, "sql": sql.replace(database, "<db>")}
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
            if cur.description is None:
                line["affected"] = cur.rowcount
            else:
                names = [d[0] for d in cur.description]
                if metadata:
                    line["columns"] = [plain(d[0]) for d in cur.description]
                else:
                    line["columns"] = [[d[0], d[1]] for d in cur.description]
                rows = []
                for row in cur.fetchall():
                    out = []
                    for name, value in zip(names, row):
                        if name in STATS:
                            out.append("<stat>")
                        elif preview and name in VOLATILE_ROW_VALUES:
                            out.append("<volatile>")
                        else:
                            value = plain(value)
                            if isinstance(value, str):
                                value = re.sub(r"\) ENGINE=(\w+) AUTO_INCREMENT=\d+ ", r") ENGINE=\1 ", value)
                            elif metadata and value is not None:
                                value = str(value)
                            out.append(value)
                    rows.append(out)
                line["rows"] = rows
    except pymysql.MySQLError as e:
        line["error"] = e.args[0]
    print(json.dumps(line, sort_keys=True))


# PyMySQL itself (pymysql/connections.py `connect`): `SET NAMES utf8mb4` on connect, then `SET AUTOCOMMIT`.
ask("pymysql", "SET NAMES utf8mb4")
ask("pymysql", "SET AUTOCOMMIT = 1")

# Superset: SQLAlchemy 2.x's MySQL dialect (lib/sqlalchemy/dialects/mysql/base.py, engine/default.py) on first
# connect, then reflection (`Inspector.get_table_names`, `has_table`, `get_columns` from SHOW CREATE TABLE),
# sequences (MariaDB) and collation detection.
ask("superset/sqlalchemy", "SELECT VERSION()")
ask("superset/sqlalchemy", "SELECT DATABASE()")
ask("superset/sqlalchemy", "SELECT @@tx_isolation")
ask("superset/sqlalchemy", "SELECT @@sql_mode")
ask("superset/sqlalchemy", "SELECT @@lower_case_table_names")
ask("superset/sqlalchemy", "SHOW COLLATION")
ask("superset/sqlalchemy", f"SHOW FULL TABLES FROM `{database}`")
ask("superset/sqlalchemy", f"DESCRIBE `{database}`.`{TABLE}`")
ask("superset/sqlalchemy", f"SHOW CREATE TABLE `{database}`.`{TABLE}`")
ask("superset/sqlalchemy",
    f"SELECT TABLE_NAME FROM INFORMATION_SCHEMA.TABLES WHERE TABLE_TYPE='SEQUENCE' and TABLE_SCHEMA = '{database}'")
ask("superset/sqlalchemy", "ROLLBACK")
# Superset's SQL Lab preview (superset/db_engine_specs/base.py `select_star`): SELECT * … LIMIT 100.
ask("superset", f"SELECT * \nFROM `{database}`.`{TABLE}`\n LIMIT 100", preview=True, metadata=False)

# Metabase's MySQL driver (src/metabase/driver/mysql.clj) over MariaDB Connector/J 3.x: the connector's one
# compound set-up statement (client/impl/StandardClient.java `postConnectionQueries`), then the driver's time-zone
# and partial-revokes probes, the table list, and its column query (written after the shape proxy-anchors §2.3
# gives: name, ordinal-1, upper-cased type with tinyint(1) as BIT, auto_increment, required, primary key, nullable,
# default, generation expression, comment).
ask("metabase/connector-j",
    "set autocommit=1, sql_mode=CONCAT(@@sql_mode,',STRICT_TRANS_TABLES'), "
    "session_track_system_variables=CONCAT(@@global.session_track_system_variables,',transaction_isolation')")
ask("metabase/connector-j", "SELECT @@time_zone, @@system_time_zone")
ask("metabase", "SELECT @@GLOBAL.time_zone, @@system_time_zone")
ask("metabase", "SHOW VARIABLES LIKE 'partial_revokes'")
ask("metabase", "SELECT DATABASE()")
ask("metabase", "SHOW TABLES")
ask("metabase",
    "SELECT c.column_name AS name, c.ordinal_position - 1 AS `database-position`, "
    "IF(c.column_type = 'tinyint(1)', 'BIT', UPPER(c.data_type)) AS `database-type`, "
    "c.extra = 'auto_increment' AS `database-is-auto-increment`, "
    "c.is_nullable = 'NO' AND c.column_default IS NULL AND c.extra <> 'auto_increment' AS `database-required`, "
    "c.column_key = 'PRI' AS `pk?`, c.is_nullable = 'YES' AS `database-is-nullable`, "
    "c.column_default AS `field-default`, c.generation_expression AS `database-generation-expression`, "
    "NULLIF(c.column_comment, '') AS `field-comment`, c.table_name AS `table-name` "
    f"FROM information_schema.columns c WHERE c.table_schema = '{database}' AND LOWER(c.table_name) IN ('{TABLE}') "
    "ORDER BY c.table_name, c.ordinal_position")
ask("metabase",
    "SELECT kcu.column_name AS `fk-column-name`, kcu.referenced_table_name AS `dest-table-name`, "
    "kcu.referenced_column_name AS `dest-column-name` FROM information_schema.key_column_usage kcu "
    "JOIN information_schema.table_constraints tc ON tc.constraint_name = kcu.constraint_name "
    "AND tc.table_schema = kcu.table_schema AND tc.table_name = kcu.table_name "
    f"WHERE tc.constraint_type = 'FOREIGN KEY' AND kcu.table_schema = '{database}' AND kcu.table_name = '{TABLE}'")
# The questions a Metabase user builds: a count, a count by a category, a sum by day.
ask("metabase", f"SELECT COUNT(*) AS `count` FROM `{database}`.`{TABLE}`", metadata=False)
ask("metabase",
    f"SELECT `{database}`.`{TABLE}`.`region` AS `region`, COUNT(*) AS `count` FROM `{database}`.`{TABLE}` "
    f"GROUP BY `{database}`.`{TABLE}`.`region` ORDER BY `{database}`.`{TABLE}`.`region` ASC", metadata=False)
ask("metabase",
    f"SELECT `{database}`.`{TABLE}`.`day` AS `day`, SUM(`{database}`.`{TABLE}`.`sales`) AS `sum` "
    f"FROM `{database}`.`{TABLE}` GROUP BY `{database}`.`{TABLE}`.`day` ORDER BY `{database}`.`{TABLE}`.`day` ASC", metadata=False)
ask("metabase", f"SELECT `{database}`.`{TABLE}`.`name` AS `name`, `{database}`.`{TABLE}`.`sales` AS `sales` "
                f"FROM `{database}`.`{TABLE}` LIMIT 2000", metadata=False)

# Grafana's MySQL data source (public/app/plugins/datasource/mysql/mySqlMetaQuery.ts): the database, table and
# column pickers (the column query written after its shape: name and type, filtered to time-column types), then a
# time-series panel's GROUP BY.
ask("grafana",
    "SELECT DISTINCT TABLE_SCHEMA from information_schema.TABLES where TABLE_TYPE != 'SYSTEM VIEW' "
    f"AND TABLE_SCHEMA = '{database}' ORDER BY TABLE_SCHEMA")
ask("grafana", "SELECT table_name FROM information_schema.tables WHERE table_schema = database() ORDER BY table_name")
ask("grafana",
    f"SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = '{database}' "
    f"AND table_name = '{TABLE}' ORDER BY column_name")
ask("grafana",
    "SELECT column_name FROM information_schema.columns WHERE table_schema = database() "
    f"AND table_name = '{TABLE}' AND data_type IN ('timestamp', 'datetime', 'bigint', 'int', 'double', 'float') "
    "ORDER BY column_name")
ask("grafana",
    f"SELECT day AS time, region AS metric, SUM(sales) AS value FROM {TABLE} WHERE day IS NOT NULL "
    "GROUP BY day, region ORDER BY day, region", metadata=False)

# DBeaver's MySQL plugin (plugins/org.jkiss.dbeaver.ext.mysql/.../model/MySQLDataSource.java @005a1a1 on connect;
# MySQLCatalog.java @057005e browsing a catalog and a table).
ask("dbeaver", "SHOW CHARSET")
ask("dbeaver", "SELECT DATABASE()")
ask("dbeaver", f"use `{database}`")
ask("dbeaver", f"SHOW FULL TABLES FROM `{database}`")
ask("dbeaver", f"SHOW FULL TABLES FROM `{database}` LIKE '{TABLE}'")
ask("dbeaver", f"SHOW TABLE STATUS FROM `{database}` LIKE '{TABLE}'")
ask("dbeaver",
    f"SELECT * FROM information_schema.COLUMNS WHERE TABLE_SCHEMA='{database}' AND TABLE_NAME='{TABLE}' "
    "ORDER BY ORDINAL_POSITION")
ask("dbeaver",
    f"SELECT * FROM information_schema.STATISTICS WHERE TABLE_SCHEMA='{database}' AND TABLE_NAME='{TABLE}' "
    "ORDER BY INDEX_NAME,SEQ_IN_INDEX")
ask("dbeaver",
    f"SELECT * FROM information_schema.KEY_COLUMN_USAGE kc WHERE kc.TABLE_SCHEMA='{database}' "
    f"AND kc.TABLE_NAME='{TABLE}' AND kc.REFERENCED_TABLE_NAME IS NULL "
    "ORDER BY kc.CONSTRAINT_NAME,kc.ORDINAL_POSITION")
ask("dbeaver",
    f"SELECT * FROM information_schema.TABLE_CONSTRAINTS tc WHERE tc.TABLE_SCHEMA='{database}' "
    f"AND tc.TABLE_NAME='{TABLE}' ORDER BY tc.CONSTRAINT_NAME")
ask("dbeaver",
    f"SELECT * FROM information_schema.CHECK_CONSTRAINTS cc WHERE cc.CONSTRAINT_SCHEMA='{database}' "
    f"AND cc.TABLE_NAME='{TABLE}'")
ask("dbeaver", f"SELECT * FROM information_schema.TABLES WHERE TABLE_SCHEMA='{database}' AND TABLE_NAME='{TABLE}'")
ask("dbeaver", f"SHOW FULL COLUMNS FROM `{TABLE}` FROM `{database}`")
ask("dbeaver", f"SHOW INDEX FROM `{TABLE}` FROM `{database}`")
ask("dbeaver", f"SHOW CREATE TABLE `{database}`.`{TABLE}`")
# The data tab: a preview and its row count.
ask("dbeaver", f"SELECT * FROM `{database}`.`{TABLE}` LIMIT 0, 200", preview=True, metadata=False)
ask("dbeaver", f"SELECT COUNT(*) FROM `{database}`.`{TABLE}`", metadata=False)
