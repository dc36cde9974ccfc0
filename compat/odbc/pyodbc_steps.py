#!/usr/bin/python3
"""Run ODBC calls that isql cannot make, for e2e/compat_odbc_test.go.

isql sends every statement without parameters, so bound `?` parameters
(SQLBindParameter), the catalog-list form of SQLTables and the native
error number of a failure are exercised through pyodbc (Debian package
python3-pyodbc) on the same unixODBC driver manager and MariaDB
Connector/ODBC driver.

Input (stdin): a JSON object
  {"connect": "ODBC connection string", "steps": [step, ...]}
where a step is one of
  {"op": "info"}                              driver and server versions
  {"op": "query", "sql": "...", "params": [...]}
  {"op": "tables", "catalog": ..., "schema": ..., "table": ..., "type": ...}
  {"op": "columns", "catalog": ..., "table": ...}
  {"op": "connect", "connect": "..."}          a separate login attempt
Output (stdout): a JSON list with one result per step:
  {"rows": [[str or null, ...], ...]} or {"info": {...}} or {"ok": true},
  or {"error": {"state": "...", "native": N, "message": "..."}}.
Values are returned as text (str()), so the test compares them with what
a direct connection returns as text.
"""

import json
import re
import sys

try:
    import pyodbc
except ImportError:
    sys.exit("pyodbc is not installed: apt-get install python3-pyodbc")


def text(v):
    if v is None:
        return None
    if isinstance(v, (bytes, bytearray)):
        return v.decode("utf-8", "replace")
    return str(v)


def error(e):
    # pyodbc puts the driver's native error number in parentheses after
    # the message: "[42000] [ma-3.1.15]... denied ... (1142) (SQLPrepare)".
    state = e.args[0] if e.args else ""
    msg = e.args[1] if len(e.args) > 1 else str(e)
    m = re.search(r"\((\d+)\) \(SQL\w+\)$", msg)
    return {"error": {"state": state, "native": int(m.group(1)) if m else 0, "message": msg}}


def step(conn, s):
    op = s["op"]
    if op == "connect":
        pyodbc.connect(s["connect"], autocommit=True).close()
        return {"ok": True}
    if op == "info":
        return {"info": {
            "driver": conn.getinfo(pyodbc.SQL_DRIVER_NAME),
            "driver_version": conn.getinfo(pyodbc.SQL_DRIVER_VER),
            "driver_manager_version": conn.getinfo(pyodbc.SQL_DM_VER),
            "dbms_version": conn.getinfo(pyodbc.SQL_DBMS_VER),
            "pyodbc": pyodbc.version,
        }}
    cur = conn.cursor()
    try:
        if op == "query":
            cur.execute(s["sql"], *(s.get("params") or []))
        elif op == "tables":
            cur.tables(catalog=s.get("catalog"), schema=s.get("schema"), table=s.get("table"), tableType=s.get("type"))
        elif op == "columns":
            cur.columns(catalog=s.get("catalog"), table=s.get("table"))
        else:
            raise ValueError("unknown op " + op)
        return {"rows": [[text(v) for v in row] for row in cur.fetchall()]}
    finally:
        cur.close()


def main():
    spec = json.load(sys.stdin)
    conn = None
    out = []
    for s in spec["steps"]:
        try:
            if conn is None and s["op"] != "connect":
                conn = pyodbc.connect(spec["connect"], autocommit=True)
            out.append(step(conn, s))
        except pyodbc.Error as e:
            out.append(error(e))
    json.dump(out, sys.stdout)
    if conn is not None:
        conn.close()


main()
