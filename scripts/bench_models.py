"""Model-table benchmark: the same rows in a virtual table (through the proxy) and in a native indexed table
(directly on the backend), plus a native JSON table scanned with JSON_EXTRACT. Prints a Markdown report.

Run by scripts/bench-models, which starts `stardust dev` and passes the connection details.
Usage: bench_models.py PROXY_PORT BACKEND_URL ROWS REPEATS
"""
import json
import os
import random
import re
import sys
import time

import pymysql

proxy_port, backend_url, rows, repeats = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
m = re.match(r"mysql://([^:]+):([^@]+)@([^:]+):(\d+)/(.+)", backend_url)
user, password, host, port, database = m.group(1), m.group(2), m.group(3), int(m.group(4)), m.group(5)

proxy = pymysql.connect(host="127.0.0.1", port=proxy_port, user="acme", password="acme", database=database, autocommit=True)
native = pymysql.connect(host=host, port=port, user=user, password=password, database=database, autocommit=True)
# The administrator's statements on backend tables are passed through: the native table through the proxy
# measures what the proxy alone costs (the hop, parsing, relaying), apart from the model layout.
relayed = pymysql.connect(host="127.0.0.1", port=proxy_port, user="admin", password="admin", database=database,
                          autocommit=True)

COLUMNS = "name VARCHAR(200) NOT NULL, employees INT, city VARCHAR(64), revenue DECIMAL(14,2)"
with proxy.cursor() as c:
    c.execute("DROP TABLE IF EXISTS model_bench")
    c.execute(f"CREATE TABLE model_bench ({COLUMNS}, INDEX (name), INDEX (employees), INDEX (city))")
with native.cursor() as c:
    c.execute("DROP TABLE IF EXISTS native_bench")
    c.execute(f"CREATE TABLE native_bench (id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY, {COLUMNS}, "
              "created_at DATETIME NOT NULL, updated_at DATETIME NOT NULL, INDEX (name), INDEX (employees), INDEX (city))")
    c.execute("DROP TABLE IF EXISTS relayed_bench")
    c.execute("CREATE TABLE relayed_bench LIKE native_bench")
    c.execute("DROP TABLE IF EXISTS json_bench")
    c.execute("CREATE TABLE json_bench (id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY, doc JSON NOT NULL)")

random.seed(42)
batch = 1000
load = {"proxy": 0.0, "native": 0.0, "relayed": 0.0, "json": 0.0}
for start in range(0, rows, batch):
    values = []
    docs = []
    for i in range(start, min(start + batch, rows)):
        employees = random.randint(1, 100000)
        city = f"city{random.randint(1, 500)}"
        values.append(f"('co{i}', {employees}, '{city}', {random.randint(1, 10**8)}.25, NOW(), NOW())")
        docs.append("('" + json.dumps({"name": f"co{i}", "employees": employees, "city": city}) + "')")
    sql = "INSERT INTO {} (name, employees, city, revenue, created_at, updated_at) VALUES " + ", ".join(values)
    for side, conn, table in (("proxy", proxy, "model_bench"), ("native", native, "native_bench"),
                              ("relayed", relayed, "relayed_bench")):
        t = time.perf_counter()
        with conn.cursor() as c:
            c.execute(sql.format(table))
        load[side] += time.perf_counter() - t
    t = time.perf_counter()
    with native.cursor() as c:
        c.execute("INSERT INTO json_bench (doc) VALUES " + ", ".join(docs))
    load["json"] += time.perf_counter() - t
with native.cursor() as c:
    c.execute("ANALYZE TABLE native_bench, json_bench, entry_data")
    c.execute("SHOW TABLES LIKE 'entry_slots_page_%'")
    for (page,) in c.fetchall():
        c.execute(f"ANALYZE TABLE {page}")


def timed(runs, params):
    """The median time of each (connection, sql) over the params. The runs take turns on each parameter, so a
    burst of load on this shared machine falls on every side alike instead of on whichever ran at the time."""
    times = [[] for _ in runs]
    for p in params:
        for i, (conn, sql) in enumerate(runs):
            t = time.perf_counter()
            with conn.cursor() as c:
                c.execute(sql, p)
                c.fetchall()
            times[i].append(time.perf_counter() - t)
    return [sorted(ts)[len(ts) // 2] for ts in times]  # medians


probes = [random.randint(0, rows - 1) for _ in range(repeats)]
ranges = [random.randint(1, 99000) for _ in range(repeats)]
cities = [(f"city{random.randint(1, 500)}", random.randint(1, 90000)) for _ in range(repeats)]
cases = [
    ("point lookup by indexed field",
     "SELECT * FROM {t} WHERE name = %s", [(f"co{p}",) for p in probes],
     "SELECT * FROM json_bench WHERE JSON_UNQUOTE(JSON_EXTRACT(doc, '$.name')) = %s"),
    ("filtered page of 100",
     "SELECT * FROM {t} WHERE employees BETWEEN %s AND %s ORDER BY employees LIMIT 100", [(r, r + 1000) for r in ranges],
     "SELECT * FROM json_bench WHERE JSON_EXTRACT(doc, '$.employees') BETWEEN %s AND %s "
     "ORDER BY JSON_EXTRACT(doc, '$.employees') LIMIT 100"),
    ("page of 100 by two fields, ordered by id",
     "SELECT id, name, employees, city FROM {t} WHERE city = %s AND employees > %s ORDER BY id LIMIT 100", cities,
     "SELECT id, doc FROM json_bench WHERE JSON_UNQUOTE(JSON_EXTRACT(doc, '$.city')) = %s "
     "AND JSON_EXTRACT(doc, '$.employees') > %s ORDER BY id LIMIT 100"),
    ("filtered COUNT",
     "SELECT COUNT(*) FROM {t} WHERE employees BETWEEN %s AND %s", [(r, r + 1000) for r in ranges],
     "SELECT COUNT(*) FROM json_bench WHERE JSON_EXTRACT(doc, '$.employees') BETWEEN %s AND %s"),
]
print(f"| query ({rows} rows) | virtual via proxy | native via proxy | native direct | virtual / native direct "
      "| of which the proxy: native via proxy / direct | of which the layout: virtual / native via proxy "
      "| JSON_EXTRACT scan | scan / virtual |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
for name, sql, params, scan in cases:
    v, r, n = timed([(proxy, sql.format(t="model_bench")), (relayed, sql.format(t="native_bench")),
                     (native, sql.format(t="native_bench"))], params)
    s, = timed([(native, scan)], params[: max(3, repeats // 20)])
    print(f"| {name} | {v*1000:.3f} ms | {r*1000:.3f} ms | {n*1000:.3f} ms | {v/n:.2f}× | {r/n:.2f}× | {v/r:.2f}× "
          f"| {s*1000:.1f} ms | {s/v:.0f}× |")
print()
# The plans, proving index use on both sides: the model table's is the backend's plan of the rewritten SELECT
# (EXPLAIN through the proxy), where `e` is entry_data and `pN` a slot page.
print("Plans (EXPLAIN: table, type, key, rows):")
print()
for name, sql, params, _ in cases:
    for label, conn, table in (("virtual", proxy, "model_bench"), ("native", native, "native_bench")):
        with conn.cursor() as c:
            c.execute("EXPLAIN " + sql.format(t=table), params[0])
            columns = [d[0] for d in c.description]
            steps = [dict(zip(columns, row)) for row in c.fetchall()]
        plan = "; ".join(f"{s['table']} {s['type']} {s['key']} {s['rows']}" for s in steps)
        print(f"- {name}, {label}: `{plan}`")
print()
print(f"| load ({rows} rows, multi-row INSERT of {batch}) | seconds | rows/s |")
print("|---|---:|---:|")
labels = {"native": "native direct", "relayed": "native via proxy", "proxy": "virtual via proxy"}
for side in ("native", "relayed", "proxy"):
    print(f"| {labels[side]} | {load[side]:.2f} | {rows / load[side]:.0f} |")
print(f"| virtual via proxy / native direct throughput | {load['native'] / load['proxy']:.2f}× | |")
print(f"| native via proxy / native direct throughput | {load['native'] / load['relayed']:.2f}× | |")

# Writes as users write them, on each side: single-row autocommit INSERTs; UPDATE and DELETE by a filter (the
# same statement on the same rows of each table: employees is uniform over 1..100000, ~10k rows per UPDATE at
# 200k entries); the backend evaluates the expressions, the proxy re-projects the touched slots.
sides = (("virtual via proxy", proxy, "model_bench"), ("native via proxy", relayed, "relayed_bench"),
         ("native direct", native, "native_bench"))
span = min(50000, max(1, 100000 * 10000 // rows))
writes = {}
singles = 500
for label, conn, table in sides:
    t = time.perf_counter()
    with conn.cursor() as c:
        for i in range(singles):
            c.execute(f"INSERT INTO {table} (name, employees, city, revenue, created_at, updated_at) "
                      "VALUES (%s, %s, %s, %s, NOW(), NOW())", (f"single{i}", 100001 + i, "citysingle", i))
    writes[("single-row INSERT (autocommit)", label)] = (singles, time.perf_counter() - t)
random.seed(7)
update_ranges = [random.randint(1, 100000 - span) for _ in range(3)]
delete_ranges = [random.randint(1, 100000 - span // 10) for _ in range(3)]
for kind, sql, spans in (
    (f"UPDATE … WHERE employees BETWEEN a AND a+{span - 1}",
     "UPDATE {} SET revenue = revenue + 1, city = CONCAT(city, 'x') WHERE employees BETWEEN %s AND %s",
     [(lo, lo + span - 1) for lo in update_ranges]),
    (f"DELETE … WHERE employees BETWEEN a AND a+{span // 10 - 1}",
     "DELETE FROM {} WHERE employees BETWEEN %s AND %s",
     [(lo, lo + span // 10 - 1) for lo in delete_ranges]),
):
    for label, _, _ in sides:
        writes[(kind, label)] = (0, 0.0)
    for params in spans:  # the sides take turns, as the reads do
        for label, conn, table in sides:
            t = time.perf_counter()
            with conn.cursor() as c:
                changed = c.execute(sql.format(table), params)
            done, seconds = writes[(kind, label)]
            writes[(kind, label)] = (done + changed, seconds + time.perf_counter() - t)
load_label = f"multi-row INSERT of {batch} (the load)"
for side, label in (("proxy", "virtual via proxy"), ("relayed", "native via proxy"), ("native", "native direct")):
    writes[(load_label, label)] = (rows, load[side])
print()
print("| write (rows/s; 3 runs each for UPDATE and DELETE) | virtual via proxy | native via proxy | native direct "
      "| virtual / native direct | of which the proxy | of which the layout |")
print("|---|---:|---:|---:|---:|---:|---:|")
for kind in dict.fromkeys(k for k, _ in writes):
    rate = {label: writes[(kind, label)][0] / writes[(kind, label)][1] for label, _, _ in sides}
    v, r, n = rate["virtual via proxy"], rate["native via proxy"], rate["native direct"]
    changed = writes[(kind, "virtual via proxy")][0]
    print(f"| {kind} ({changed} rows) | {v:.0f} | {r:.0f} | {n:.0f} | {v / n:.2f}× | {r / n:.2f}× | {v / r:.2f}× |")

# Streaming memory: the proxy's resident set while a whole-table read streams through it.
pid = int(sys.argv[5]) if len(sys.argv) > 5 else None
if pid:
    def rss():
        with open(f"/proc/{pid}/status") as f:
            return next(int(l.split()[1]) for l in f if l.startswith("VmRSS"))
    before = rss()
    peak = before
    conn = pymysql.connect(host="127.0.0.1", port=proxy_port, user="acme", password="acme", database=database,
                           cursorclass=pymysql.cursors.SSCursor)
    with conn.cursor() as c:
        c.execute("SELECT * FROM model_bench")
        n = 0
        for _ in c:
            n += 1
            if n % 10000 == 0:
                peak = max(peak, rss())
    print()
    print(f"Streaming all {n} rows through the proxy: RSS {before/1024:.1f} MB before, peak {peak/1024:.1f} MB "
          f"(growth {(peak-before)/1024:.1f} MB).")

# Daemon throughput: promote a field of the loaded model (the Reconciler backfills it), then demote it (the
# Liberator sweeps the old slot). Progress is read from the stardust schema. While the backfill runs, the
# client keeps reading (point lookups by an indexed field, unfiltered reads of the field being indexed) and
# writing (updates of the field being indexed) the same table, and counts what failed.
busy = {"reads": 0, "writes": 0, "errors": 0}


def work_a_little():
    for _ in range(5):
        p = random.randint(0, rows - 1)
        try:
            with proxy.cursor() as c:
                c.execute("SELECT name, revenue FROM model_bench WHERE name = %s", (f"co{p}",))
                c.fetchall()
                busy["reads"] += 1
                c.execute("UPDATE model_bench SET revenue = revenue + 1 WHERE name = %s", (f"co{p}",))
                busy["writes"] += 1
        except pymysql.MySQLError as e:
            busy["errors"] += 1
            print(f"error during the backfill: {e}", file=sys.stderr)


def wait_for(sql, done, work=None):
    start = time.perf_counter()
    while True:
        with proxy.cursor() as c:
            c.execute(sql)
            if done(c.fetchall()):
                return time.perf_counter() - start
        if work:
            work()
        else:
            time.sleep(0.05)

ready = ("SELECT slot_status FROM stardust.fields WHERE table_name = 'model_bench' AND name = 'revenue'",
         lambda rows: rows and rows[0][0] == "ready")
admin = pymysql.connect(host="127.0.0.1", port=proxy_port, user="admin", password="admin", database=database, autocommit=True)


def swept():
    start = time.perf_counter()
    with admin.cursor() as c:
        while True:
            c.execute("SELECT COUNT(*) FROM stardust.slots WHERE status = 'tombstoned'")
            if c.fetchone()[0] == 0:
                return time.perf_counter() - start
            time.sleep(0.05)


# 1. Throughput: the daemons alone.
with proxy.cursor() as c:
    c.execute("ALTER TABLE model_bench ADD INDEX (revenue)")
backfill = wait_for(*ready)
with proxy.cursor() as c:
    c.execute("ALTER TABLE model_bench DROP INDEX revenue")
sweep = swept()
# 2. Online: the same promotion while the client keeps reading and writing the table.
with proxy.cursor() as c:
    c.execute("ALTER TABLE model_bench ADD INDEX (revenue)")
online = wait_for(*ready, work_a_little)
print()
print("| daemon work | rows | seconds | rows/s |")
print("|---|---:|---:|---:|")
print(f"| Reconciler backfill (ADD INDEX on a loaded field) | {rows} | {backfill:.2f} | {rows / backfill:.0f} |")
print(f"| Liberator sweep (DROP INDEX) | {rows} | {sweep:.2f} | {rows / sweep:.0f} |")
print(f"| Reconciler backfill again, with the client reading and writing throughout | {rows} | {online:.2f} | "
      f"{rows / online:.0f} |")
print()
print(f"During the second backfill the same client made {busy['reads']} reads and {busy['writes']} updates of the "
      f"table ({busy['errors']} errors); filters on `revenue` then use its index.")
with proxy.cursor() as c:
    c.execute("SELECT COUNT(*) FROM model_bench WHERE revenue > 50000000")
    print(f"Entries with revenue > 50,000,000 after the promotion: {c.fetchone()[0]}.")
