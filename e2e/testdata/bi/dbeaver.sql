-- DBeaver (Community/Enterprise) with its MySQL plugin
-- (plugins/org.jkiss.dbeaver.ext.mysql) over MySQL Connector/J: connect,
-- expand the connection, a database, a table, open its data. Connector/J's
-- own connect statements are in connector-j.sql. DBeaver sets the JDBC client
-- info ApplicationName, and Connector/J's CommentClientInfoProvider then
-- prefixes every statement with it as a comment, as the server's general log
-- shows. Format: see connector-j.sql.
--
-- source: MariaDB/mariadb-connector-j (mariadb-corporation/mariadb-connector-j src/main/java/org/mariadb/jdbc/internal/protocol/AbstractConnectProtocol.java@00400acfba487cdc9af1a1850af777c1c47632ba sendSessionInfos, SESSION_QUERY, requestSessionDataWithShow): what DBeaver's "MariaDB" driver (MariaDB Connector/J 2.x) sends first, with the default jdbcCompliantTruncation=true and a server that tracks session state; a compound SET
set autocommit=1, session_track_schema=1, sql_mode = concat(@@sql_mode,',STRICT_TRANS_TABLES')
;;
SELECT @@max_allowed_packet,@@system_time_zone,@@time_zone,@@auto_increment_increment
;;
SHOW VARIABLES WHERE Variable_name in ('max_allowed_packet','system_time_zone','time_zone','auto_increment_increment')
;;
-- source: dbeaver/dbeaver#18707 (https://github.com/dbeaver/dbeaver/issues/18707: DBeaver 22.3.2 query log while connecting and opening a database, in the order sent; DBeaver quotes names only where needed, so `study` goes unquoted) with the ApplicationName comment as in actiontech/dble#829 (https://github.com/actiontech/dble/issues/829: "/* ApplicationName=DBeaver 5.2.4 - Metadata */ SHOW FULL TABLES FROM mytest") and GreptimeTeam/greptimedb src/servers/src/mysql/federated.rs@22d741353b4e1f51edd614ee474823448664fcd8 (the DBeaver statements it has to answer)
/* ApplicationName=DBeaver 22.3.2 - Main */ SELECT DATABASE()
;;
/* ApplicationName=DBeaver 22.3.2 - Metadata */ SELECT DATABASE()
;;
/* ApplicationName=DBeaver 22.3.2 - Metadata */ SHOW ENGINES
;;
/* ApplicationName=DBeaver 22.3.2 - Metadata */ SHOW CHARSET
;;
/* ApplicationName=DBeaver 22.3.2 - Metadata */ SHOW COLLATION
;;
/* ApplicationName=DBeaver 22.3.2 - Metadata */ SELECT @@GLOBAL.character_set_server,@@GLOBAL.collation_server
;;
/* ApplicationName=DBeaver 22.3.2 - Metadata */ SHOW PLUGINS
;;
/* ApplicationName=DBeaver 22.3.2 - Metadata */ SHOW VARIABLES LIKE 'lower_case_table_names'
;;
/* ApplicationName=DBeaver 22.3.2 - Metadata */ show databases
;;
/* ApplicationName=DBeaver 22.3.2 - Metadata */ SELECT * FROM information_schema.TABLES t
WHERE
	t.TABLE_SCHEMA = 'information_schema'
	AND t.TABLE_NAME = 'CHECK_CONSTRAINTS'
;;
/* ApplicationName=DBeaver 22.3.2 - Metadata */ SHOW FULL TABLES FROM study
;;
/* ApplicationName=DBeaver 22.3.2 - Metadata */ SHOW TABLE STATUS FROM study
;;
-- source: dbeaver/dbeaver plugins/org.jkiss.dbeaver.ext.mysql/src/org/jkiss/dbeaver/ext/mysql/model/MySQLCatalog.java@057005ef19e4f4da8be9f859ec90ead948bea9e4 (TableCache columns, IndexCache, ConstraintCache, ProceduresCache, EventCache: prepared through Connector/J's client-side prepared statements, so the parameters arrive inlined)
/* ApplicationName=DBeaver 22.3.2 - Metadata */ SELECT * FROM information_schema.COLUMNS WHERE TABLE_SCHEMA='study' AND TABLE_NAME='visits' ORDER BY ORDINAL_POSITION
;;
/* ApplicationName=DBeaver 22.3.2 - Metadata */ SELECT * FROM information_schema.COLUMNS WHERE TABLE_SCHEMA='study' ORDER BY ORDINAL_POSITION
;;
/* ApplicationName=DBeaver 22.3.2 - Metadata */ SELECT kc.CONSTRAINT_NAME,kc.TABLE_NAME,kc.COLUMN_NAME,kc.ORDINAL_POSITION
FROM INFORMATION_SCHEMA.KEY_COLUMN_USAGE kc WHERE kc.TABLE_SCHEMA='study' AND kc.REFERENCED_TABLE_NAME IS NULL AND kc.TABLE_NAME='visits'
ORDER BY kc.CONSTRAINT_NAME,kc.ORDINAL_POSITION
;;
/* ApplicationName=DBeaver 22.3.2 - Metadata */ SELECT * FROM information_schema.STATISTICS WHERE TABLE_SCHEMA='study' AND TABLE_NAME='visits' ORDER BY INDEX_NAME,SEQ_IN_INDEX
;;
/* ApplicationName=DBeaver 22.3.2 - Metadata */ SELECT * FROM information_schema.STATISTICS WHERE TABLE_SCHEMA='study' ORDER BY INDEX_NAME,SEQ_IN_INDEX
;;
/* ApplicationName=DBeaver 22.3.2 - Metadata */ SELECT * FROM information_schema.ROUTINES
WHERE ROUTINE_SCHEMA='study'
ORDER BY ROUTINE_NAME
;;
/* ApplicationName=DBeaver 22.3.2 - Metadata */ SELECT * FROM information_schema.EVENTS WHERE EVENT_SCHEMA='study'
;;
-- refused: statement-kinds refuses SHOW TRIGGERS (biRefusedByDesign)
/* ApplicationName=DBeaver 22.3.2 - Metadata */ SHOW FULL TRIGGERS FROM study
;;
-- source: dbeaver/dbeaver plugins/org.jkiss.dbeaver.ext.mysql/src/org/jkiss/dbeaver/ext/mysql/model/MySQLDataSource.java@005a1a1cb6e67fd5a92794ba7045ada7410f3365 (CatalogCache: the schema list when "show databases" is not used; useDatabase on switching the default database)
/* ApplicationName=DBeaver 22.3.2 - Metadata */ SELECT * FROM information_schema.SCHEMATA
;;
/* ApplicationName=DBeaver 22.3.2 - Main */ use study
;;
-- source: dbeaver/dbeaver#22345 (https://github.com/dbeaver/dbeaver/issues/22345: general log of DBeaver 23.3.0 opening a table's Data tab) and dbeaver/dbeaver#22112 (https://github.com/dbeaver/dbeaver/pull/22112: "LIMIT 0, 200 will be added to your query")
/* ApplicationName=DBeaver 23.3.0 - Main */ SELECT x.* FROM study.visits x
LIMIT 0, 200
;;
/* ApplicationName=DBeaver 23.3.0 - Main */ SET SQL_SELECT_LIMIT=2000
;;
/* ApplicationName=DBeaver 23.3.0 - Main */ SELECT x.* FROM study.subjects x
;;
