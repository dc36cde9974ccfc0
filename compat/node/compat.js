'use strict';
// Drives node's mysql2 through rrproxy for e2e/compat_node_test.go.
//
// The script only observes: it runs each check's statements and prints one
// JSON object with what mysql2 saw (rows, column names, error codes and
// messages, counts). The Go test holds the expectations, so that they sit
// next to the direct MariaDB connection they are compared with.
//
// Usage: RRPROXY_COMPAT_CONFIG='<json>' node compat.js  (the Go test writes
// the JSON: proxy address, CA file, accounts, the statements to run).

const fs = require('fs');
const net = require('net');
const mysql = require('mysql2');
const mysqlp = require('mysql2/promise');

const cfg = JSON.parse(process.env.RRPROXY_COMPAT_CONFIG);
const ca = fs.readFileSync(cfg.ca);

// options connects to rrproxy over TLS, verifying its certificate against
// the test CA and its name: mysql2 checks the name only for a host name
// (never for an IP address), so the name is "localhost", which rrproxy's
// dev certificate carries, while the socket goes to the address the proxy
// listens on, whatever localhost resolves to on this machine.
function options(user, password, extra) {
  return {
    host: 'localhost',
    port: cfg.port,
    stream: () => net.connect(cfg.port, cfg.ip),
    user,
    password,
    ssl: { ca, rejectUnauthorized: true, verifyIdentity: true },
    // Values as text, so that they compare with go-sql-driver's raw bytes
    // from the direct connection.
    dateStrings: true,
    supportBigNumbers: true,
    bigNumberStrings: true,
    ...extra,
  };
}

function text(v) {
  if (v === null || v === undefined) return 'NULL';
  if (Buffer.isBuffer(v)) return v.toString('utf8');
  return String(v);
}

function table(rows) {
  return rows.map((r) => r.map(text));
}

function errInfo(e) {
  if (!e) return null;
  return { errno: e.errno || 0, sqlState: e.sqlState || '', code: e.code || '', message: e.message };
}

// attempt runs fn and returns its value or the error it threw.
async function attempt(fn) {
  try {
    return { value: await fn() };
  } catch (e) {
    return { error: errInfo(e) };
  }
}

// refusal connects with opts and returns the error, or null if the
// connection (wrongly) succeeded, which it then closes.
async function refusal(opts) {
  const r = await attempt(() => mysqlp.createConnection(opts));
  if (r.error) return r.error;
  await r.value.end();
  return null;
}

async function listings(conn) {
  const out = {};
  for (const q of cfg.metadataQueries) {
    const r = await attempt(async () => {
      const [rows] = await conn.query({ sql: q, rowsAsArray: true });
      return table(rows);
    });
    out[q] = r;
  }
  // The columns a star expands to, as mysql2 reports them in the result
  // set's field list.
  const [, fields] = await conn.query('SELECT * FROM study.visits LIMIT 1');
  out['fields of SELECT * FROM study.visits'] = { value: fields.map((f) => [f.name]) };
  return out;
}

async function readRows(conn) {
  const out = {};
  for (const q of cfg.rowQueries) {
    const [textRows] = await conn.query({ sql: q, rowsAsArray: true });
    // execute() is mysql2's server-side prepared statement: COM_STMT_PREPARE
    // then COM_STMT_EXECUTE, rows in the binary protocol.
    const [binRows] = await conn.execute({ sql: q, rowsAsArray: true });
    out[q] = { text: table(textRows), binary: table(binRows) };
  }
  return out;
}

async function prepared(conn) {
  const out = { byArgs: {} };
  // execute() caches the prepared statement per connection: the second
  // call reuses it with new values.
  for (const args of cfg.preparedArgs) {
    const [rows] = await conn.execute({ sql: cfg.preparedQuery, rowsAsArray: true }, args);
    out.byArgs[JSON.stringify(args)] = table(rows);
  }
  // An explicit prepare, executed once per site, then closed.
  const st = await conn.prepare('SELECT COUNT(*) FROM study.subjects WHERE site_id = ?');
  let sum = 0;
  for (let site = 1; site <= 8; site++) {
    const [rows] = await st.execute([site]);
    sum += Number(Object.values(rows[0])[0]);
  }
  st.close();
  out.siteSum = sum;
  out.refusedPrepare = (await attempt(() => conn.execute('SELECT amount_eur FROM ops.site_payments WHERE site_id = ?', [1]))).error;
  return out;
}

async function errors(conn) {
  const out = { byQuery: {} };
  for (const q of cfg.refusedQueries) {
    out.byQuery[q] = (await attempt(() => conn.query(q))).error;
  }
  // The session goes on after refusals.
  const [rows] = await conn.query({ sql: "SELECT 'still here'", rowsAsArray: true });
  out.after = text(rows[0][0]);
  return out;
}

// large streams the big result with the callback API's query().stream():
// rows are handed over one by one as their packets arrive, never collected
// into a result array, and each is checked as it passes.
function large(conn) {
  return new Promise((resolve) => {
    const filler = 'x'.repeat(cfg.largeWidth);
    const res = { rows: 0, bytes: 0, idSum: 0, badRows: 0, error: null };
    const started = Date.now();
    // This process's resident memory, sampled while the rows flow: a
    // client that collected the result would need more than its size.
    // (process.resourceUsage().maxRSS is no use here: Linux carries the
    // spawning Go test's peak over into it at exec.)
    res.peakRssMiB = 0;
    const sample = setInterval(() => {
      res.peakRssMiB = Math.max(res.peakRssMiB, process.memoryUsage().rss / 1048576);
    }, 10);
    const s = conn.query({ sql: cfg.largeQuery, rowsAsArray: true }).stream({ highWaterMark: 64 });
    s.on('data', (row) => {
      res.rows++;
      res.idSum += Number(row[0]);
      const v = text(row[1]);
      res.bytes += v.length;
      if (v !== filler) res.badRows++;
    });
    s.on('error', (e) => {
      res.error = errInfo(e);
    });
    s.on('close', () => {
      clearInterval(sample);
      res.ms = Date.now() - started;
      res.peakRssMiB = Math.round(res.peakRssMiB);
      resolve(res);
    });
  });
}

async function main() {
  const out = {
    versions: { mysql2: require('mysql2/package.json').version, node: process.version },
  };

  // TLS with the test CA and name check, rrproxy's default plugin.
  const alice = await mysqlp.createConnection(options(cfg.alice.user, cfg.alice.password));
  const sock = alice.connection.stream;
  out.tls = {
    encrypted: !!sock.encrypted,
    authorized: !!sock.authorized,
    protocol: sock.getProtocol ? sock.getProtocol() : '',
    // The plugin rrproxy's greeting named (mysql2 keeps the greeting in a
    // private field); mysql2 answers with it directly when it supports
    // it, without an authentication switch.
    plugin: alice.connection._handshakePacket ? alice.connection._handshakePacket.authPluginName : '',
    serverVersion: alice.connection._handshakePacket ? alice.connection._handshakePacket.serverVersion : '',
  };
  // The same certificate must be refused without the test CA (Node's own
  // roots) and under a name it does not carry: the checks above are real.
  out.tls.withoutCA = await refusal(options(cfg.alice.user, cfg.alice.password, { ssl: { rejectUnauthorized: true } }));
  out.tls.wrongName = await refusal(options(cfg.alice.user, cfg.alice.password, { host: 'not-rrproxy.invalid' }));

  out.metadata = { alice: await listings(alice) };
  const bob = await mysqlp.createConnection(options(cfg.bob.user, cfg.bob.password));
  out.metadata.bob = await listings(bob);
  await bob.end();

  out.rows = await readRows(alice);
  out.prepared = await prepared(alice);
  out.errors = await errors(alice);
  await alice.end();

  // Connection attributes: mysql2 sends _client_name by default; a
  // program_name added by the application is sent too.
  const named = await mysqlp.createConnection(options(cfg.alice.user, cfg.alice.password, { connectAttributes: { program_name: cfg.programName } }));
  await named.query("SELECT 'named program'");
  await named.end();

  out.wrongPassword = await refusal(options(cfg.alice.user, 'not-' + cfg.alice.password));

  const big = mysql.createConnection(options(cfg.alice.user, cfg.alice.password));
  out.large = await large(big);
  out.large.after = await new Promise((resolve) => {
    big.query({ sql: "SELECT 'after large'", rowsAsArray: true }, (err, rows) => resolve(err ? errInfo(err).message : text(rows[0][0])));
  });
  await new Promise((resolve) => big.end(resolve));

  process.stdout.write(JSON.stringify(out) + '\n');
}

main().catch((e) => {
  process.stderr.write('compat.js: ' + (e && e.stack ? e.stack : String(e)) + '\n');
  process.exit(1);
});
