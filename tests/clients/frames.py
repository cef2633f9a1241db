"""pandas and Django against a table: `model_frame` through the proxy, or its native twin directly. Prints what
each library saw, as JSON lines, for the caller to compare between the two sides (ids left out: a model's ids are
global to the backend, a native table's its own).

Usage: python3 frames.py pandas|django HOST PORT USER PASSWORD DATABASE
"""
import io
import json
import sys

library, host, port, user, password, database = sys.argv[1:7]


def pandas_side():
    import pandas as pd
    from sqlalchemy import create_engine

    engine = create_engine(f"mysql+pymysql://{user}:{password}@{host}:{port}/{database}")
    frame = pd.DataFrame(
        {
            "name": ["ant", "bee", "cat", "dog"],
            "qty": [1, 5, None, 12],
            "price": [0.5, 2.25, 10.0, None],
            "day": pd.to_datetime(["2024-01-02", "2024-01-02", "2024-02-03", None]).date,
        }
    )
    # to_sql looks the table up (has_table) and appends with executemany.
    written = frame.to_sql("model_frame", engine, if_exists="append", index=False)
    print(json.dumps({"to_sql": written}))
    read = pd.read_sql("SELECT name, qty, price, day FROM model_frame WHERE qty >= 1 ORDER BY name", engine)
    print(json.dumps({"read_sql": json.loads(read.to_json(orient="records", date_format="iso")),
                      "dtypes": {k: str(v) for k, v in read.dtypes.items()}}))
    grouped = pd.read_sql(
        "SELECT day, COUNT(*) AS n, SUM(qty) AS total FROM model_frame GROUP BY day ORDER BY day", engine
    )
    print(json.dumps({"grouped": json.loads(grouped.to_json(orient="records", date_format="iso"))}))
    table = pd.read_sql_table("model_frame", engine, columns=["name", "price"])
    print(json.dumps({"read_sql_table": json.loads(table.sort_values("name").to_json(orient="records")),
                      "dtypes": {k: str(v) for k, v in table.dtypes.items()}}))


def django_side():
    import pymysql

    pymysql.install_as_MySQLdb()
    import django
    from django.conf import settings

    settings.configure(
        DATABASES={"default": {"ENGINE": "django.db.backends.mysql", "NAME": database, "USER": user,
                               "PASSWORD": password, "HOST": host, "PORT": port}},
        INSTALLED_APPS=[],
        USE_TZ=False,
    )
    django.setup()
    from django.core.management import call_command
    from django.db import connection, models
    from django.db.models import Count, Sum

    out = io.StringIO()
    call_command("inspectdb", "model_frame", stdout=out)
    model_text = out.getvalue()
    print(json.dumps({"inspectdb": [l for l in model_text.splitlines() if l and not l.startswith("# ")]}))
    print(json.dumps({"introspected": sorted(connection.introspection.table_names())}))

    class Frame(models.Model):
        name = models.CharField(max_length=40)
        qty = models.IntegerField(null=True)
        price = models.FloatField(null=True)
        day = models.DateField(null=True)

        class Meta:
            app_label = "stardust"
            db_table = "model_frame"
            managed = False

    Frame.objects.create(name="eel", qty=3, price=1.5)
    Frame.objects.bulk_create([Frame(name="fox", qty=7), Frame(name="gnu", qty=None, price=4.0)])
    Frame.objects.filter(qty__gte=5).update(price=9.5)
    Frame.objects.filter(name="ant").delete()
    rows = list(Frame.objects.filter(qty__isnull=False).order_by("name").values("name", "qty", "price", "day"))
    for row in rows:
        row["day"] = row["day"] and row["day"].isoformat()
    print(json.dumps({"orm": rows}))
    summary = Frame.objects.aggregate(n=Count("id"), total=Sum("qty"))
    print(json.dumps({"aggregate": summary}))
    print(json.dumps({"exists": Frame.objects.filter(name__startswith="g").exists(),
                      "count": Frame.objects.exclude(price__isnull=True).count()}))


{"pandas": pandas_side, "django": django_side}[library]()
