// CompatCheck drives MariaDB Connector/J through rrproxy and prints what it
// observed as key=value lines on stdout, for e2e/compat_java_test.go to
// assert on. It decides nothing itself: expected values (the policy's view,
// rows read directly from MariaDB) live in the Go test, so this program
// only reports. Diagnostics go to stderr.
//
// Run (single-file source launch, JDK 11+; the Go test does this):
//
//	RR_HOST=127.0.0.1 RR_PORT=3307 RR_CA=ca.pem ALICE_PW=... BOB_PW=... \
//	RR_JDBC_OPTS=<extra URL options> \
//	  java -Xmx64m -cp /usr/share/java/mariadb-java-client.jar CompatCheck.java
//
// RR_JDBC_OPTS (optional) is added to every connection except the one
// that checks the driver's defaults.
//
// Values are escaped so each stays on one line: backslash, newline and
// carriage return become \\, \n and \r. Lists are comma-separated.
import java.io.FilterInputStream;
import java.io.FilterOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.lang.management.ManagementFactory;
import java.lang.management.MemoryPoolMXBean;
import java.lang.management.MemoryType;
import java.net.InetAddress;
import java.net.Socket;
import java.net.SocketAddress;
import java.net.SocketException;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DatabaseMetaData;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.ResultSetMetaData;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.TreeSet;
import javax.net.ssl.HandshakeCompletedListener;
import javax.net.ssl.SSLException;
import javax.net.ssl.SSLSession;
import javax.net.ssl.SSLSocket;
import javax.net.ssl.SSLSocketFactory;
import org.mariadb.jdbc.internal.protocol.tls.DefaultTlsSocketPlugin;
import org.mariadb.jdbc.tls.TlsSocketPlugin;
import org.mariadb.jdbc.util.Options;

public class CompatCheck {
  static String host, ca, alicePw, bobPw, opts;
  static int port;

  public static void main(String[] args) throws Exception {
    host = env("RR_HOST");
    port = Integer.parseInt(env("RR_PORT"));
    ca = env("RR_CA");
    alicePw = env("ALICE_PW");
    bobPw = env("BOB_PW");
    // Driver options every check but "defaults" adds (the Go test says
    // which and why); empty for none.
    opts = System.getenv().getOrDefault("RR_JDBC_OPTS", "");
    out("jvm.version", System.getProperty("java.version"));
    out("jvm.maxheap", Runtime.getRuntime().maxMemory());

    // Each check reports its own failure and the next one still runs, so
    // one incompatibility does not hide the others.
    run("defaults", CompatCheck::defaults);
    run("login", CompatCheck::login);
    run("wire", CompatCheck::wire);
    run("meta.alice", () -> metadata("alice", alicePw));
    run("meta.bob", () -> metadata("bob", bobPw));
    run("rows", CompatCheck::rows);
    run("prep.server", () -> prepared("server", true));
    run("prep.client", () -> prepared("client", false));
    run("err", CompatCheck::errors);
    run("stream", CompatCheck::stream);
    out("done", "true");
  }

  interface Check {
    void run() throws Exception;
  }

  static void run(String name, Check c) {
    try {
      c.run();
    } catch (Throwable e) {
      out(name + ".failed", describe(e));
      e.printStackTrace();
    }
  }

  // url is the JDBC URL Connector/J 2.7 needs for verified TLS: useSsl
  // turns TLS on, serverSslCert makes the driver trust exactly rrproxy's
  // CA, and hostname verification stays on (the driver's default), so this
  // is stricter than verify-ca. Connector/J 2.x has no sslMode option
  // (that is 3.x syntax) and ignores it silently; see the "notls" check.
  static String url(String db, String extra) {
    String u = "jdbc:mariadb://" + host + ":" + port + "/" + db + "?useSsl=true&serverSslCert=" + ca;
    for (String o : new String[] {opts, extra}) {
      u += o.isEmpty() ? "" : "&" + o;
    }
    return u;
  }

  static Connection connect(String user, String pw, String db, String extra) throws SQLException {
    return DriverManager.getConnection(url(db, extra), user, pw);
  }

  // defaults connects with nothing but the TLS options, as a tool does
  // that was given only host, port, user, password and the CA.
  static void defaults() throws Exception {
    String u = "jdbc:mariadb://" + host + ":" + port + "/?useSsl=true&serverSslCert=" + ca;
    try (Connection c = DriverManager.getConnection(u, "alice", alicePw);
        Statement st = c.createStatement();
        ResultSet rs = st.executeQuery("SELECT COUNT(*) FROM study.subjects")) {
      rs.next();
      out("defaults.count", rs.getLong(1));
      out("defaults.ok", "true");
    } catch (SQLException e) {
      outSQL("defaults", e);
    }
  }

  // login: alice with the driver's default authentication (no plugin
  // options). The negotiated plugin and TLS parameters are observed by
  // the "wire" check (client side) and rrproxy's audit log (server side):
  // Connector/J 2.x exposes neither through an API.
  static void login() throws Exception {
    try (Connection c = connect("alice", alicePw, "", "")) {
      DatabaseMetaData md = c.getMetaData();
      out("driver.name", md.getDriverName());
      out("driver.version", md.getDriverVersion());
      out("server.version", md.getDatabaseProductVersion());
      try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery("SELECT COUNT(*) FROM study.subjects")) {
        rs.next();
        out("login.count", rs.getLong(1));
      }
      out("login.ok", "true");
    }
  }

  // wire records the authentication exchange as the driver saw it, inside
  // TLS. The driver keeps no record of which plugin it ended up using, so
  // a TLS socket plugin (Connector/J's own extension point, tlsSocketType)
  // wraps the default one and copies the first packets of each direction.
  // Trust and hostname checks are the default plugin's, unchanged.
  static void wire() throws Exception {
    Path dir = Files.createTempDirectory("compatcheck");
    Path svc = dir.resolve("META-INF/services/org.mariadb.jdbc.tls.TlsSocketPlugin");
    Files.createDirectories(svc.getParent());
    Files.write(svc, (WireTap.class.getName() + "\n").getBytes(StandardCharsets.UTF_8));
    ClassLoader prev = Thread.currentThread().getContextClassLoader();
    // The driver finds TLS plugins with ServiceLoader through the context
    // class loader; this one adds the services file above.
    try (URLClassLoader cl = new URLClassLoader(new URL[] {dir.toUri().toURL()}, CompatCheck.class.getClassLoader())) {
      Thread.currentThread().setContextClassLoader(cl);
      WireTap.last = null;
      try (Connection c = connect("alice", alicePw, "", "tlsSocketType=" + WireTap.TYPE)) {
        try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery("SELECT 1")) {
          rs.next();
        }
      } finally {
        Thread.currentThread().setContextClassLoader(prev);
      }
    } finally {
      Files.delete(svc);
      Files.delete(svc.getParent());
      Files.delete(svc.getParent().getParent());
      Files.delete(dir);
    }
    TapSocket t = WireTap.last;
    if (t == null) {
      throw new IllegalStateException("the wire tap TLS plugin was not used");
    }
    List<byte[]> sent = packets(t.sent.toByteArray()), recv = packets(t.recv.toByteArray());
    // Client: HandshakeResponse41 first; its last field names the plugin
    // the driver chose on its own.
    byte[] hr = sent.get(0);
    out("wire.client_plugin", handshakePlugin(hr));
    int si = 1;
    List<String> steps = new ArrayList<>();
    for (byte[] p : recv) {
      int h = p[0] & 0xff;
      if (h == 0xfe) {
        int end = indexOf(p, (byte) 0, 1);
        String plugin = new String(p, 1, end - 1, StandardCharsets.US_ASCII);
        out("wire.switch_plugin", plugin);
        steps.add("switch:" + plugin);
        out("wire.switch_response_len", sent.get(si++).length);
      } else if (h == 0x01 && p.length == 2) {
        steps.add(p[1] == 4 ? "perform_full_authentication" : p[1] == 3 ? "fast_auth_success" : "more_data:" + p[1]);
        if (p[1] == 4) {
          // Over TLS, full authentication sends the password itself,
          // NUL-terminated; say whether that is what went out, not what.
          byte[] pw = sent.get(si++);
          byte[] want = Arrays.copyOf(alicePw.getBytes(StandardCharsets.UTF_8), alicePw.length() + 1);
          out("wire.full_auth_cleartext_password", Arrays.equals(pw, want));
        }
      } else if (h == 0x00) {
        steps.add("ok");
        break;
      } else if (h == 0xff) {
        steps.add("error");
        break;
      } else {
        steps.add("unexpected:" + h);
        break;
      }
    }
    out("wire.steps", String.join(",", steps));
    out("wire.tls.protocol", t.getSession().getProtocol());
    out("wire.tls.cipher", t.getSession().getCipherSuite());
  }

  static String handshakePlugin(byte[] p) {
    long caps = (p[0] & 0xffL) | (p[1] & 0xffL) << 8 | (p[2] & 0xffL) << 16 | (p[3] & 0xffL) << 24;
    int i = 4 + 4 + 1 + 23;
    i = indexOf(p, (byte) 0, i) + 1; // user
    if ((caps & 0x200000) != 0) { // PLUGIN_AUTH_LENENC_CLIENT_DATA
      int n = p[i] & 0xff; // a scramble is short: one-byte lenenc
      i += 1 + n;
    } else if ((caps & 0x8000) != 0) { // SECURE_CONNECTION
      i += 1 + (p[i] & 0xff);
    } else {
      i = indexOf(p, (byte) 0, i) + 1;
    }
    if ((caps & 0x8) != 0) { // CONNECT_WITH_DB
      i = indexOf(p, (byte) 0, i) + 1;
    }
    if ((caps & 0x80000) == 0) { // PLUGIN_AUTH
      return "(none)";
    }
    int end = indexOf(p, (byte) 0, i);
    return new String(p, i, (end < 0 ? p.length : end) - i, StandardCharsets.US_ASCII);
  }

  static int indexOf(byte[] b, byte v, int from) {
    for (int i = from; i < b.length; i++) {
      if (b[i] == v) {
        return i;
      }
    }
    return -1;
  }

  // packets splits captured bytes into MySQL packet payloads, dropping a
  // trailing partial packet (the capture is bounded).
  static List<byte[]> packets(byte[] b) {
    List<byte[]> out = new ArrayList<>();
    int i = 0;
    while (i + 4 <= b.length) {
      int n = (b[i] & 0xff) | (b[i + 1] & 0xff) << 8 | (b[i + 2] & 0xff) << 16;
      if (i + 4 + n > b.length) {
        break;
      }
      out.add(Arrays.copyOfRange(b, i + 4, i + 4 + n));
      i += 4 + n;
    }
    return out;
  }

  // metadata calls DatabaseMetaData the way DBeaver (navigator tree),
  // Crystal Reports (table list, then columns and keys) and Tableau's
  // "Other Databases (JDBC)" connector do.
  static void metadata(String user, String pw) throws Exception {
    String k = "meta." + user;
    try (Connection c = connect(user, pw, "", "")) {
      DatabaseMetaData md = c.getMetaData();
      out(k + ".catalogs", column(md.getCatalogs(), "TABLE_CAT"));
      out(k + ".schemas", column(md.getSchemas(), "TABLE_SCHEM"));
      out(k + ".table_types", column(md.getTableTypes(), "TABLE_TYPE"));
      out(k + ".tables.study", column(md.getTables("study", null, "%", null), "TABLE_NAME"));
      out(k + ".tables.study_typed", column(md.getTables("study", null, "%", new String[] {"TABLE", "VIEW"}), "TABLE_NAME"));
      out(k + ".tables.ops", column(md.getTables("ops", null, "%", null), "TABLE_NAME"));
      // A null catalog means the current database by default
      // (nullCatalogMeansCurrent=true), and there is none here: empty,
      // exactly as on a direct connection to MariaDB.
      out(k + ".tables.null_catalog", qualified(md.getTables(null, null, "%", null)));
      for (String t : new String[] {"subjects", "visits", "docs"}) {
        out(k + ".columns.study." + t, orderedColumn(md.getColumns("study", null, t, "%"), "COLUMN_NAME"));
        out(k + ".pk.study." + t, orderedColumn(md.getPrimaryKeys("study", null, t), "COLUMN_NAME"));
      }
      out(k + ".columns.study.all", qualified(md.getColumns("study", null, "%", "%")));
      out(k + ".columns.ops.site_payments", orderedColumn(md.getColumns("ops", null, "site_payments", "%"), "COLUMN_NAME"));
      out(k + ".pk.ops.site_payments", orderedColumn(md.getPrimaryKeys("ops", null, "site_payments"), "COLUMN_NAME"));
      // DBeaver opens a table's Properties with index and key lookups.
      out(k + ".index.study.visits", orderedColumn(md.getIndexInfo("study", null, "visits", false, false), "COLUMN_NAME"));
      out(k + ".imported.study.visits", orderedColumn(md.getImportedKeys("study", null, "visits"), "FKCOLUMN_NAME"));
    }
    // Tools that browse every catalog at once (DBeaver's navigator with
    // no default database, Tableau listing tables) get all databases'
    // tables with nullCatalogMeansCurrent=false.
    try (Connection c = connect(user, pw, "", "nullCatalogMeansCurrent=false")) {
      out(k + ".tables.all", qualified(c.getMetaData().getTables(null, null, "%", null)));
      out(k + ".columns.all", qualified(c.getMetaData().getColumns(null, null, "%", "%")));
    }
    // With a default database, a null catalog lists that one.
    try (Connection c = connect(user, pw, "study", "")) {
      out(k + ".tables.current", qualified(c.getMetaData().getTables(null, null, "%", null)));
    }
  }

  // qualified lists TABLE_CAT.TABLE_NAME (and .COLUMN_NAME for column
  // listings), sorted.
  static String qualified(ResultSet rs) throws SQLException {
    TreeSet<String> s = new TreeSet<>();
    try (rs) {
      boolean cols = false;
      for (int i = 1; i <= rs.getMetaData().getColumnCount(); i++) {
        cols |= rs.getMetaData().getColumnLabel(i).equalsIgnoreCase("COLUMN_NAME");
      }
      while (rs.next()) {
        s.add(rs.getString("TABLE_CAT") + "." + rs.getString("TABLE_NAME") + (cols ? "." + rs.getString("COLUMN_NAME") : ""));
      }
    }
    return String.join(",", s);
  }

  static String column(ResultSet rs, String col) throws SQLException {
    TreeSet<String> s = new TreeSet<>();
    try (rs) {
      while (rs.next()) {
        s.add(rs.getString(col));
      }
    }
    return String.join(",", s);
  }

  static String orderedColumn(ResultSet rs, String col) throws SQLException {
    List<String> s = new ArrayList<>();
    try (rs) {
      while (rs.next()) {
        s.add(rs.getString(col));
      }
    }
    return String.join(",", s);
  }

  // rows reads tables in full; the Go test compares with MariaDB itself.
  static void rows() throws Exception {
    try (Connection c = connect("alice", alicePw, "study", "")) {
      out("rows.subjects", dump(c, "SELECT subject_id, site_id, sex, birth_year FROM study.subjects ORDER BY subject_id"));
      out("rows.visits", dump(c, "SELECT visit_id, subject_id, visit_name, visit_date, systolic_bp FROM visits ORDER BY visit_id"));
      // SELECT * must expand without the blinded column.
      try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery("SELECT * FROM visits LIMIT 1")) {
        out("rows.visits_star_columns", labels(rs.getMetaData()));
      }
    }
  }

  static String labels(ResultSetMetaData m) throws SQLException {
    List<String> l = new ArrayList<>();
    for (int i = 1; i <= m.getColumnCount(); i++) {
      l.add(m.getColumnLabel(i));
    }
    return String.join(",", l);
  }

  static String dump(Connection c, String q) throws SQLException {
    try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery(q)) {
      return render(rs);
    }
  }

  // render writes rows as lines of |-separated values, NULL as NULL: the
  // form the Go test renders MariaDB's direct answer in.
  static String render(ResultSet rs) throws SQLException {
    StringBuilder b = new StringBuilder();
    int n = rs.getMetaData().getColumnCount();
    while (rs.next()) {
      for (int i = 1; i <= n; i++) {
        String v = rs.getString(i);
        b.append(i > 1 ? "|" : "").append(v == null ? "NULL" : v);
      }
      b.append('\n');
    }
    return b.toString();
  }

  // prepared runs parameterised statements with server-side prepares (the
  // binary protocol: COM_STMT_PREPARE/EXECUTE) or client-side ones (the
  // driver substitutes parameters into COM_QUERY text).
  static void prepared(String mode, boolean server) throws Exception {
    String k = "prep." + mode;
    try (Connection c = connect("alice", alicePw, "study", "useServerPrepStmts=" + server)) {
      try (PreparedStatement ps = c.prepareStatement(
          "SELECT subject_id, site_id, sex, birth_year FROM study.subjects WHERE site_id = ? ORDER BY subject_id")) {
        out(k + ".class", ps.getClass().getSimpleName());
        // Executed twice with different values: a server-side statement
        // is prepared once and executed again.
        for (int site : new int[] {3, 7}) {
          ps.setInt(1, site);
          try (ResultSet rs = ps.executeQuery()) {
            out(k + ".site" + site, render(rs));
          }
        }
      }
      try (PreparedStatement ps = c.prepareStatement(
          "SELECT v.visit_id, v.visit_name, v.visit_date, v.systolic_bp FROM visits v WHERE v.subject_id = ? AND v.visit_date >= ? ORDER BY v.visit_id")) {
        ps.setString(1, "S-0042");
        ps.setDate(2, java.sql.Date.valueOf("2025-03-01"));
        try (ResultSet rs = ps.executeQuery()) {
          out(k + ".subject", render(rs));
        }
      }
      // Tableau and Crystal Reports ask a prepared statement for its
      // result columns before (or instead of) running it.
      try (PreparedStatement ps = c.prepareStatement("SELECT * FROM visits WHERE visit_id = ?")) {
        ResultSetMetaData m = ps.getMetaData();
        out(k + ".star_metadata", m == null ? "(null)" : labels(m));
      }
      // The blinded column is refused at prepare (server) or execute
      // (client) time, with the same error as a missing column.
      try (PreparedStatement ps = c.prepareStatement("SELECT treatment_arm FROM visits WHERE visit_id = ?")) {
        ps.setInt(1, 1);
        ps.executeQuery().close();
        out(k + ".blinded", "no error");
      } catch (SQLException e) {
        out(k + ".blinded", describe(e));
        outSQL(k + ".blinded", e);
      }
    }
  }

  static void errors() throws Exception {
    try (Connection c = connect("alice", alicePw, "study", "")) {
      expectError(c, "err.column", "SELECT treatment_arm FROM study.visits");
      expectError(c, "err.ops", "SELECT * FROM ops.site_payments");
      // The session must survive a refusal.
      try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery("SELECT COUNT(*) FROM visits")) {
        rs.next();
        out("err.after", rs.getLong(1));
      }
    }
    try (Connection c = connect("bob", bobPw, "study", "")) {
      expectError(c, "err.bob_docs", "SELECT * FROM study.docs");
    }
    try (Connection c = connect("alice", "not-alices-password", "", "")) {
      out("err.wrongpw", "connected");
    } catch (SQLException e) {
      outSQL("err.wrongpw", e);
    }
    // sslMode is Connector/J 3.x syntax; 2.x ignores it and connects in
    // plaintext, which rrproxy refuses with its TLS hint.
    try (Connection c = DriverManager.getConnection("jdbc:mariadb://" + host + ":" + port + "/?sslMode=verify-ca&serverSslCert=" + ca,
        "alice", alicePw)) {
      out("err.notls", "connected");
    } catch (SQLException e) {
      outSQL("err.notls", e);
    }
    // The option that refusal names (useSSL=true, a legacy alias in 2.x)
    // does work with this driver.
    try (Connection c = DriverManager.getConnection("jdbc:mariadb://" + host + ":" + port + "/?useSSL=true&serverSslCert=" + ca
        + (opts.isEmpty() ? "" : "&" + opts), "alice", alicePw)) {
      out("err.hint_ok", c.isValid(5));
    } catch (SQLException e) {
      outSQL("err.hint", e);
    }
  }

  static void expectError(Connection c, String k, String q) {
    try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery(q)) {
      out(k, "no error");
    } catch (SQLException e) {
      outSQL(k, e);
    }
  }

  static void outSQL(String k, SQLException e) {
    out(k + ".sqlstate", e.getSQLState());
    out(k + ".code", e.getErrorCode());
    out(k + ".message", e.getMessage());
    out(k + ".class", e.getClass().getSimpleName());
  }

  // stream reads a result far larger than the heap (-Xmx64m) row by row:
  // fetch size Integer.MIN_VALUE is Connector/J's streaming mode. Once as
  // a plain query (text protocol), once as a server-side prepared
  // statement with a bound parameter (binary protocol).
  static void stream() throws Exception {
    String q = "SELECT v.visit_id, REPEAT('x', 2500) FROM study.visits v CROSS JOIN study.visits w";
    List<MemoryPoolMXBean> heap = new ArrayList<>();
    for (MemoryPoolMXBean p : ManagementFactory.getMemoryPoolMXBeans()) {
      if (p.getType() == MemoryType.HEAP) {
        heap.add(p);
        p.resetPeakUsage();
      }
    }
    try (Connection c = connect("alice", alicePw, "", "")) {
      try (Statement st = c.createStatement(ResultSet.TYPE_FORWARD_ONLY, ResultSet.CONCUR_READ_ONLY)) {
        st.setFetchSize(Integer.MIN_VALUE);
        try (ResultSet rs = st.executeQuery(q)) {
          drain("stream.text", rs);
        }
      }
      // The connection is usable after the stream was read to the end.
      try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery("SELECT 42")) {
        rs.next();
        out("stream.after", rs.getInt(1));
      }
    }
    try (Connection c = connect("alice", alicePw, "", "useServerPrepStmts=true");
        PreparedStatement ps = c.prepareStatement(
            "SELECT v.visit_id, REPEAT('x', ?) FROM study.visits v CROSS JOIN study.visits w",
            ResultSet.TYPE_FORWARD_ONLY, ResultSet.CONCUR_READ_ONLY)) {
      out("stream.binary.class", ps.getClass().getSimpleName());
      ps.setFetchSize(Integer.MIN_VALUE);
      ps.setInt(1, 2500);
      try (ResultSet rs = ps.executeQuery()) {
        drain("stream.binary", rs);
      }
    }
    long peak = 0;
    for (MemoryPoolMXBean p : heap) {
      peak += p.getPeakUsage().getUsed();
    }
    out("stream.heap_peak", peak); // an upper bound: the pools' peaks need not coincide
    out("stream.heap_max", Runtime.getRuntime().maxMemory());
  }

  static void drain(String k, ResultSet rs) throws SQLException {
    long rows = 0, bytes = 0, idSum = 0, bad = 0;
    long t0 = System.nanoTime();
    while (rs.next()) {
      idSum += rs.getLong(1);
      byte[] v = rs.getBytes(2);
      for (byte x : v) {
        if (x != 'x') {
          bad++;
        }
      }
      rows++;
      bytes += v.length;
    }
    double secs = (System.nanoTime() - t0) / 1e9;
    out(k + ".rows", rows);
    out(k + ".bytes", bytes);
    out(k + ".idsum", idSum);
    out(k + ".bad_bytes", bad);
    out(k + ".seconds", String.format("%.2f", secs));
    out(k + ".mb_per_s", String.format("%.1f", bytes / 1e6 / secs));
  }

  static String describe(Throwable e) {
    if (e instanceof SQLException) {
      SQLException s = (SQLException) e;
      return e.getClass().getSimpleName() + " [" + s.getSQLState() + "/" + s.getErrorCode() + "] " + e.getMessage();
    }
    return e.toString();
  }

  static String env(String k) {
    String v = System.getenv(k);
    if (v == null || v.isEmpty()) {
      throw new IllegalArgumentException("environment variable " + k + " is not set");
    }
    return v;
  }

  static void out(String k, Object v) {
    String s = String.valueOf(v).replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r");
    System.out.println(k + "=" + s);
    System.out.flush();
  }

  // WireTap is the default TLS socket plugin with the created socket
  // wrapped in a TapSocket.
  public static class WireTap implements TlsSocketPlugin {
    static final String TYPE = "compatcheck-wiretap";
    static volatile TapSocket last;
    final DefaultTlsSocketPlugin d = new DefaultTlsSocketPlugin();

    public String name() {
      return "CompatCheck wire tap";
    }

    public String type() {
      return TYPE;
    }

    public SSLSocketFactory getSocketFactory(Options o) throws SQLException {
      return d.getSocketFactory(o);
    }

    public SSLSocket createSocket(Socket s, SSLSocketFactory f) throws IOException {
      TapSocket t = new TapSocket(d.createSocket(s, f));
      last = t;
      return t;
    }

    public void verify(String h, SSLSession s, Options o, long id) throws SSLException {
      d.verify(h, s, o, id);
    }
  }

  // Capture keeps the first bytes that pass, enough for the login.
  static class Capture extends java.io.ByteArrayOutputStream {
    synchronized void add(byte[] b, int off, int n) {
      n = Math.min(n, 16384 - size());
      if (n > 0) {
        write(b, off, n);
      }
    }
  }

  // TapSocket delegates everything to the real TLS socket and copies the
  // decrypted bytes it carries.
  static class TapSocket extends SSLSocket {
    final SSLSocket s;
    final Capture sent = new Capture(), recv = new Capture();

    TapSocket(SSLSocket s) {
      this.s = s;
    }

    @Override
    public InputStream getInputStream() throws IOException {
      return new FilterInputStream(s.getInputStream()) {
        @Override
        public int read() throws IOException {
          int c = super.read();
          if (c >= 0) {
            recv.add(new byte[] {(byte) c}, 0, 1);
          }
          return c;
        }

        @Override
        public int read(byte[] b, int off, int len) throws IOException {
          int n = super.read(b, off, len);
          if (n > 0) {
            recv.add(b, off, n);
          }
          return n;
        }
      };
    }

    @Override
    public OutputStream getOutputStream() throws IOException {
      return new FilterOutputStream(s.getOutputStream()) {
        @Override
        public void write(int c) throws IOException {
          sent.add(new byte[] {(byte) c}, 0, 1);
          out.write(c);
        }

        @Override
        public void write(byte[] b, int off, int len) throws IOException {
          sent.add(b, off, len);
          out.write(b, off, len);
        }
      };
    }

    public String[] getSupportedCipherSuites() { return s.getSupportedCipherSuites(); }
    public String[] getEnabledCipherSuites() { return s.getEnabledCipherSuites(); }
    public void setEnabledCipherSuites(String[] v) { s.setEnabledCipherSuites(v); }
    public String[] getSupportedProtocols() { return s.getSupportedProtocols(); }
    public String[] getEnabledProtocols() { return s.getEnabledProtocols(); }
    public void setEnabledProtocols(String[] v) { s.setEnabledProtocols(v); }
    public SSLSession getSession() { return s.getSession(); }
    public void addHandshakeCompletedListener(HandshakeCompletedListener l) { s.addHandshakeCompletedListener(l); }
    public void removeHandshakeCompletedListener(HandshakeCompletedListener l) { s.removeHandshakeCompletedListener(l); }
    public void startHandshake() throws IOException { s.startHandshake(); }
    public void setUseClientMode(boolean v) { s.setUseClientMode(v); }
    public boolean getUseClientMode() { return s.getUseClientMode(); }
    public void setNeedClientAuth(boolean v) { s.setNeedClientAuth(v); }
    public boolean getNeedClientAuth() { return s.getNeedClientAuth(); }
    public void setWantClientAuth(boolean v) { s.setWantClientAuth(v); }
    public boolean getWantClientAuth() { return s.getWantClientAuth(); }
    public void setEnableSessionCreation(boolean v) { s.setEnableSessionCreation(v); }
    public boolean getEnableSessionCreation() { return s.getEnableSessionCreation(); }
    @Override public void close() throws IOException { s.close(); }
    @Override public boolean isClosed() { return s.isClosed(); }
    @Override public boolean isConnected() { return s.isConnected(); }
    @Override public boolean isBound() { return s.isBound(); }
    @Override public boolean isInputShutdown() { return s.isInputShutdown(); }
    @Override public boolean isOutputShutdown() { return s.isOutputShutdown(); }
    @Override public void shutdownInput() throws IOException { s.shutdownInput(); }
    @Override public void shutdownOutput() throws IOException { s.shutdownOutput(); }
    @Override public void setSoTimeout(int t) throws SocketException { s.setSoTimeout(t); }
    @Override public int getSoTimeout() throws SocketException { return s.getSoTimeout(); }
    @Override public void setTcpNoDelay(boolean v) throws SocketException { s.setTcpNoDelay(v); }
    @Override public boolean getTcpNoDelay() throws SocketException { return s.getTcpNoDelay(); }
    @Override public void setKeepAlive(boolean v) throws SocketException { s.setKeepAlive(v); }
    @Override public void setSoLinger(boolean on, int t) throws SocketException { s.setSoLinger(on, t); }
    @Override public void setReceiveBufferSize(int n) throws SocketException { s.setReceiveBufferSize(n); }
    @Override public void setSendBufferSize(int n) throws SocketException { s.setSendBufferSize(n); }
    @Override public InetAddress getInetAddress() { return s.getInetAddress(); }
    @Override public InetAddress getLocalAddress() { return s.getLocalAddress(); }
    @Override public int getPort() { return s.getPort(); }
    @Override public int getLocalPort() { return s.getLocalPort(); }
    @Override public SocketAddress getRemoteSocketAddress() { return s.getRemoteSocketAddress(); }
    @Override public SocketAddress getLocalSocketAddress() { return s.getLocalSocketAddress(); }
  }
}
