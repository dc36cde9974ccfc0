-- The one shared read-only service account rrproxy relays over (RO_USER).
-- Demo password: also in deploy/sso-demo/upstream-password. Never reuse it.
CREATE USER 'ro_user'@'%' IDENTIFIED BY 'demo-ro-user-Xw8Pq2Lr6Tz9Vb4Nc7Hm3Kd5Jf1Gs0Ya';
GRANT SELECT, SHOW VIEW ON study.* TO 'ro_user'@'%';
GRANT SELECT, SHOW VIEW ON ops.* TO 'ro_user'@'%';
