#!/usr/bin/python3
"""Drive one Python DB-API driver (PyMySQL or mysqlclient/MySQLdb) through
rrproxy for e2e/compat_python_test.go.

The Go test decides what is right: this script only connects the way an
application would, runs the steps it is given and reports, as JSON on
stdout, exactly what the driver returned (rows as text, error codes and
messages), so that every comparison is made in Go against a direct
connection to MariaDB.

Request (JSON on stdin):
  {"driver": "pymysql" | "mysqldb", "host", "port", "ca", "user",
   "password", "database", "option_file": optional (MySQLdb only),
   "steps": [{"sql": "...", "args": [...]}  # args: client-side interpolation
             | {"stream": "SELECT ..."}]}  # server-side cursor (SSCursor)
Reply: {"driver", "version", "auth_plugin", "tls_version", "tls_cipher",
        "connect_error": null | {"code", "message"}, "results": [...]}
"""

import datetime
import decimal
import json
import resource
import sys
import time


def text(v):
    """A value as the text the server sent, for comparison in Go."""
    if v is None:
        return None
    if isinstance(v, (bytes, bytearray)):
        return bytes(v).decode("utf-8", "replace")
    if isinstance(v, (datetime.date, datetime.datetime)):
        return v.isoformat(sep=" ") if isinstance(v, datetime.datetime) else v.isoformat()
    if isinstance(v, datetime.timedelta):
        return str(v)
    if isinstance(v, decimal.Decimal):
        return str(v)
    return str(v)


def db_error(e):
    """(code, message) of a driver exception; both drivers use args."""
    args = getattr(e, "args", ())
    if len(args) >= 2 and isinstance(args[0], int):
        return {"code": args[0], "message": str(args[1]), "type": type(e).__name__}
    return {"code": 0, "message": str(e), "type": type(e).__name__}


def maxrss_kib():
    # getrusage's ru_maxrss, in KiB on Linux. Linux carries it over
    # execve, so in a process started from a large parent (the Go test
    # binary) it starts at the parent's peak and hides this process's.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def hwm_kib():
    # The peak resident set of this process's own memory since exec
    # (VmHWM), which is what shows whether a result was buffered.
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


class Driver:
    def __init__(self, name):
        self.name = name
        if name == "pymysql":
            import pymysql
            import pymysql.cursors

            self.mod = pymysql
            self.version = pymysql.__version__
            self.sscursor = pymysql.cursors.SSCursor
            self.errors = (pymysql.MySQLError,)
        elif name == "mysqldb":
            import MySQLdb
            import MySQLdb.cursors

            self.mod = MySQLdb
            self.version = MySQLdb.__version__
            self.sscursor = MySQLdb.cursors.SSCursor
            self.errors = (MySQLdb.MySQLError,)
        else:
            raise SystemExit("unknown driver " + name)

    def connect(self, req):
        kw = dict(
            host=req["host"],
            port=int(req["port"]),
            user=req["user"],
            password=req["password"],
            charset="utf8mb4",
            ssl={"ca": req["ca"]},
        )
        if req.get("database"):
            kw["database"] = req["database"]
        if self.name == "mysqldb" and req.get("option_file"):
            # mysqlclient's ssl dict has no hostname check; libmariadb
            # reads ssl-verify-server-cert from an option file.
            kw["read_default_file"] = req["option_file"]
        # No auth plugin is named: each library's default is what is
        # being tested.
        return self.mod.connect(**kw)


def run_step(d, conn, step):
    if "stream" in step:
        return stream(d, conn, step["stream"])
    cur = conn.cursor()
    try:
        start = time.monotonic()
        if "args" in step:
            cur.execute(step["sql"], step["args"])
        else:
            cur.execute(step["sql"])
        res = {
            "columns": [c[0] for c in cur.description] if cur.description else [],
            "rows": [[text(v) for v in row] for row in cur.fetchall()],
            "seconds": time.monotonic() - start,
        }
        # What the driver actually sent: both interpolate %s client-side.
        sent = getattr(cur, "_executed", None)
        if sent is not None:
            res["sent"] = text(sent)
        return res
    except d.errors as e:
        return {"error": db_error(e)}
    finally:
        try:
            cur.close()
        except d.errors:
            pass


def stream(d, conn, sql):
    """Read a large result row by row with the driver's unbuffered
    (server-side) cursor: a buffered cursor would hold it all in memory,
    which the reported peak RSS would show."""
    before = hwm_kib()
    cur = conn.cursor(d.sscursor)
    rows = nbytes = idsum = bad = 0
    start = time.monotonic()
    try:
        cur.execute(sql)
        while True:
            batch = cur.fetchmany(1000)
            if not batch:
                break
            for row in batch:
                rows += 1
                idsum += int(row[0])
                v = row[1]
                if isinstance(v, (bytes, bytearray)):
                    v = bytes(v).decode()
                nbytes += len(str(row[0])) + len(v)
                if v != "x" * len(v):
                    bad += 1
        cur.close()
    except d.errors as e:
        return {"error": db_error(e), "rows": rows}
    return {
        "stream_rows": rows,
        "stream_bytes": nbytes,
        "stream_id_sum": idsum,
        "stream_bad_values": bad,
        "rss_before_kib": before,
        "rss_peak_kib": hwm_kib(),
        "ru_maxrss_kib": maxrss_kib(),
        "seconds": time.monotonic() - start,
    }


def main():
    req = json.load(sys.stdin)
    d = Driver(req["driver"])
    out = {"driver": d.name, "version": d.version, "connect_error": None, "results": []}
    try:
        conn = d.connect(req)
    except d.errors as e:
        out["connect_error"] = db_error(e)
        json.dump(out, sys.stdout)
        return
    if d.name == "pymysql":
        # The plugin PyMySQL answered the server's greeting with (it
        # follows the server's choice; an auth switch would be handled
        # by _process_auth without changing this).
        out["auth_plugin"] = conn._auth_plugin_name
        sock = conn._sock
        if hasattr(sock, "version"):
            out["tls_version"] = sock.version()
            out["tls_cipher"] = sock.cipher()[0]
    for step in req.get("steps") or []:
        out["results"].append(run_step(d, conn, step))
    conn.close()
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
