-- MySQL Connector/J: the statements the JDBC driver itself sends when a JDBC
-- tool (DBeaver, Tableau's JDBC path, QuickSight, Spotfire Information
-- Services, SQL Workbench/J ...) connects and reads DatabaseMetaData.
-- Format: entries separated by a line holding only ";;"; "-- source:" lines
-- say where the following entries come from; "-- params: [...]" sends the
-- entry as a server-side prepared statement with those parameters; other
-- leading "--" lines are notes. Schema names are the test schema's (study).
--
-- source: general log of mysql-connector-java-8.0.22 connecting (quoted in com/alipay/datasource/test/jdbc/localsessionstate/UseLocalSessionStateMain.java, public GitHub code index); query built by mysql/mysql-connector-j src/main/core-impl/java/com/mysql/cj/NativeSession.java loadServerVariables()
-- note: this is the form Connector/J 8 sends to a server announcing a 5.x version, which MariaDB does (5.5.5-10.x): @@tx_isolation and the query cache variables.
/* mysql-connector-java-8.0.22 (Revision: d64b664fa93e81296a377de031b8123a67e6def2) */SELECT  @@session.auto_increment_increment AS auto_increment_increment, @@character_set_client AS character_set_client, @@character_set_connection AS character_set_connection, @@character_set_results AS character_set_results, @@character_set_server AS character_set_server, @@collation_server AS collation_server, @@collation_connection AS collation_connection, @@init_connect AS init_connect, @@interactive_timeout AS interactive_timeout, @@license AS license, @@lower_case_table_names AS lower_case_table_names, @@max_allowed_packet AS max_allowed_packet, @@net_write_timeout AS net_write_timeout, @@performance_schema AS performance_schema, @@query_cache_size AS query_cache_size, @@query_cache_type AS query_cache_type, @@sql_mode AS sql_mode, @@system_time_zone AS system_time_zone, @@time_zone AS time_zone, @@tx_isolation AS transaction_isolation, @@wait_timeout AS wait_timeout
;;
SET NAMES latin1
;;
SET character_set_results = NULL
;;
SET autocommit=1
;;
SET autocommit=0
;;
SELECT @@session.tx_read_only
;;
commit
;;
rollback
;;
-- source: GreptimeTeam/greptimedb src/servers/src/mysql/federated.rs@22d741353b4e1f51edd614ee474823448664fcd8 (test quoting mysql-connector-java-8.0.17's first statement; the test appends ";", the driver does not)
-- note: the MySQL 8 form; MariaDB 10.11 has no @@transaction_isolation, so the server itself answers 1193 Unknown system variable.
/* mysql-connector-java-8.0.17 (Revision: 16a712ddb3f826a1933ab42b0039f7fb9eebc6ec) */SELECT  @@session.auto_increment_increment AS auto_increment_increment, @@character_set_client AS character_set_client, @@character_set_connection AS character_set_connection, @@character_set_results AS character_set_results, @@character_set_server AS character_set_server, @@collation_server AS collation_server, @@collation_connection AS collation_connection, @@init_connect AS init_connect, @@interactive_timeout AS interactive_timeout, @@license AS license, @@lower_case_table_names AS lower_case_table_names, @@max_allowed_packet AS max_allowed_packet, @@net_write_timeout AS net_write_timeout, @@performance_schema AS performance_schema, @@sql_mode AS sql_mode, @@system_time_zone AS system_time_zone, @@time_zone AS time_zone, @@transaction_isolation AS transaction_isolation, @@wait_timeout AS wait_timeout
;;
SET NAMES utf8mb4
;;
SELECT @@session.transaction_read_only
;;
SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED
;;
SHOW WARNINGS
;;
-- source: mysql/mysql-connector-j src/main/user-impl/java/com/mysql/cj/jdbc/DatabaseMetaData.java@00d43c5e8b24f1d516f93eea900b3487c15a489c (getDatabases, getTables, getColumns, getBestRowIdentifier, extractForeignKeyFromCreateTable; the default useInformationSchema=false path)
SHOW DATABASES
;;
SHOW DATABASES LIKE 'study'
;;
SHOW FULL TABLES FROM `study` LIKE '%'
;;
SHOW FULL TABLES FROM `study` LIKE 'visits'
;;
SHOW FULL COLUMNS FROM `visits` FROM `study` LIKE '%'
;;
-- note: a column pattern other than % makes getColumns read the full list first to fix up ordinals
SHOW FULL COLUMNS FROM `subjects` FROM `study`
;;
SHOW FULL COLUMNS FROM `subjects` FROM `study` LIKE 'sub%'
;;
SHOW COLUMNS FROM `visits` FROM `study`
;;
SHOW CREATE TABLE `study`.`visits`
;;
-- note: a catalog fan-out: with no catalog given, getTables iterates over every database SHOW DATABASES returned (for alice: information_schema and study)
SHOW FULL TABLES FROM `information_schema` LIKE '%'
;;
SHOW FULL TABLES FROM `study` LIKE '%'
;;
-- source: ClickHouse/ClickHouse#49140 (https://github.com/ClickHouse/ClickHouse/issues/49140: "SHOW KEYS FROM `cell_towers` FROM `default`", Connector/J getPrimaryKeys as used by QuickSight) and DatabaseMetaData.java above
SHOW KEYS FROM `visits` FROM `study`
;;
SHOW INDEX FROM `visits` FROM `study`
;;
-- source: mysql/mysql-connector-j src/main/user-impl/java/com/mysql/cj/jdbc/DatabaseMetaData.java@00d43c5e8b24f1d516f93eea900b3487c15a489c getProceduresAndOrFunctions(): mysql.proc first, SHOW ... STATUS when that fails
SELECT db, name, type, comment FROM mysql.proc WHERE db = 'study' AND name LIKE '%' ORDER BY name, type
;;
SHOW FUNCTION STATUS WHERE Db = 'study' AND Name LIKE '%'
;;
SHOW PROCEDURE STATUS WHERE Db = 'study' AND Name LIKE '%'
;;
-- source: mysql/mysql-connector-j src/main/user-impl/java/com/mysql/cj/jdbc/DatabaseMetaData.java@00d43c5e8b24f1d516f93eea900b3487c15a489c getColumnPrivileges()
SELECT c.host, c.db, t.grantor, c.user, c.table_name, c.column_name, c.column_priv FROM mysql.columns_priv c, mysql.tables_priv t WHERE c.host = t.host AND c.db = t.db AND c.table_name = t.table_name AND c.db = 'study' AND c.table_name = 'visits' AND c.column_name LIKE '%'
;;
-- source: mysql/mysql-connector-j src/main/user-impl/java/com/mysql/cj/jdbc/DatabaseMetaDataUsingInfoSchema.java@00d43c5e8b24f1d516f93eea900b3487c15a489c (useInformationSchema=true; client-side prepared statements, so parameters arrive inlined as quoted literals and NULLs as null)
SELECT TABLE_SCHEMA AS TABLE_CAT, NULL AS TABLE_SCHEM, TABLE_NAME, CASE WHEN TABLE_TYPE='BASE TABLE' THEN CASE WHEN TABLE_SCHEMA = 'mysql' OR TABLE_SCHEMA = 'performance_schema' THEN 'SYSTEM TABLE' ELSE 'TABLE' END WHEN TABLE_TYPE='TEMPORARY' THEN 'LOCAL_TEMPORARY' ELSE TABLE_TYPE END AS TABLE_TYPE, TABLE_COMMENT AS REMARKS, NULL AS TYPE_CAT, NULL AS TYPE_SCHEM, NULL AS TYPE_NAME, NULL AS SELF_REFERENCING_COL_NAME, NULL AS REF_GENERATION FROM INFORMATION_SCHEMA.TABLES WHERE TABLE_SCHEMA = 'study' AND TABLE_NAME LIKE '%' HAVING TABLE_TYPE IN ('TABLE','VIEW',null,null,null) ORDER BY TABLE_TYPE, TABLE_SCHEMA, TABLE_NAME
;;
-- note: getTables with a null catalog and nullDatabaseMeansCurrent=false: every schema at once
SELECT TABLE_SCHEMA AS TABLE_CAT, NULL AS TABLE_SCHEM, TABLE_NAME, CASE WHEN TABLE_TYPE='BASE TABLE' THEN CASE WHEN TABLE_SCHEMA = 'mysql' OR TABLE_SCHEMA = 'performance_schema' THEN 'SYSTEM TABLE' ELSE 'TABLE' END WHEN TABLE_TYPE='TEMPORARY' THEN 'LOCAL_TEMPORARY' ELSE TABLE_TYPE END AS TABLE_TYPE, TABLE_COMMENT AS REMARKS, NULL AS TYPE_CAT, NULL AS TYPE_SCHEM, NULL AS TYPE_NAME, NULL AS SELF_REFERENCING_COL_NAME, NULL AS REF_GENERATION FROM INFORMATION_SCHEMA.TABLES WHERE TABLE_NAME LIKE '%' HAVING TABLE_TYPE IN ('TABLE','VIEW',null,null,null) ORDER BY TABLE_TYPE, TABLE_SCHEMA, TABLE_NAME
;;
SELECT TABLE_SCHEMA AS TABLE_CAT, NULL AS TABLE_SCHEM, TABLE_NAME, COLUMN_NAME, SEQ_IN_INDEX AS KEY_SEQ, 'PRIMARY' AS PK_NAME FROM INFORMATION_SCHEMA.STATISTICS WHERE TABLE_SCHEMA = 'study' AND TABLE_NAME = 'visits' AND INDEX_NAME='PRIMARY' ORDER BY TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME, SEQ_IN_INDEX
;;
SELECT TABLE_SCHEMA AS TABLE_CAT, NULL AS TABLE_SCHEM, TABLE_NAME, NON_UNIQUE, NULL AS INDEX_QUALIFIER, INDEX_NAME,3 AS TYPE, SEQ_IN_INDEX AS ORDINAL_POSITION, COLUMN_NAME,COLLATION AS ASC_OR_DESC, CARDINALITY, 0 AS PAGES, NULL AS FILTER_CONDITION FROM INFORMATION_SCHEMA.STATISTICS WHERE TABLE_SCHEMA = 'study' AND TABLE_NAME = 'visits' ORDER BY NON_UNIQUE, INDEX_NAME, SEQ_IN_INDEX
;;
SELECT DISTINCT A.REFERENCED_TABLE_SCHEMA AS PKTABLE_CAT,NULL AS PKTABLE_SCHEM, A.REFERENCED_TABLE_NAME AS PKTABLE_NAME, A.REFERENCED_COLUMN_NAME AS PKCOLUMN_NAME, A.TABLE_SCHEMA AS FKTABLE_CAT, NULL AS FKTABLE_SCHEM, A.TABLE_NAME AS FKTABLE_NAME, A.COLUMN_NAME AS FKCOLUMN_NAME, A.ORDINAL_POSITION AS KEY_SEQ,CASE WHEN R.UPDATE_RULE='CASCADE' THEN 0 WHEN R.UPDATE_RULE='SET NULL' THEN 2 WHEN R.UPDATE_RULE='SET DEFAULT' THEN 4 WHEN R.UPDATE_RULE='RESTRICT' THEN 1 WHEN R.UPDATE_RULE='NO ACTION' THEN 1 ELSE 1 END  AS UPDATE_RULE,CASE WHEN R.DELETE_RULE='CASCADE' THEN 0 WHEN R.DELETE_RULE='SET NULL' THEN 2 WHEN R.DELETE_RULE='SET DEFAULT' THEN 4 WHEN R.DELETE_RULE='RESTRICT' THEN 1 WHEN R.DELETE_RULE='NO ACTION' THEN 1 ELSE 1 END  AS DELETE_RULE, A.CONSTRAINT_NAME AS FK_NAME, R.UNIQUE_CONSTRAINT_NAME AS PK_NAME,7 AS DEFERRABILITY FROM INFORMATION_SCHEMA.KEY_COLUMN_USAGE A JOIN INFORMATION_SCHEMA.TABLE_CONSTRAINTS B USING (CONSTRAINT_SCHEMA, CONSTRAINT_NAME, TABLE_NAME) JOIN INFORMATION_SCHEMA.REFERENTIAL_CONSTRAINTS R ON (R.CONSTRAINT_NAME = B.CONSTRAINT_NAME AND R.TABLE_NAME = B.TABLE_NAME AND R.CONSTRAINT_SCHEMA = B.TABLE_SCHEMA) WHERE B.CONSTRAINT_TYPE = 'FOREIGN KEY' AND A.TABLE_SCHEMA = 'study' AND A.TABLE_NAME='visits' AND A.REFERENCED_TABLE_SCHEMA IS NOT NULL ORDER BY A.REFERENCED_TABLE_SCHEMA, A.REFERENCED_TABLE_NAME, A.ORDINAL_POSITION
;;
SELECT ROUTINE_SCHEMA AS PROCEDURE_CAT, NULL AS PROCEDURE_SCHEM, ROUTINE_NAME AS PROCEDURE_NAME, NULL AS RESERVED_1, NULL AS RESERVED_2, NULL AS RESERVED_3, ROUTINE_COMMENT AS REMARKS, CASE WHEN ROUTINE_TYPE = 'PROCEDURE' THEN 1 WHEN ROUTINE_TYPE='FUNCTION' THEN 2 ELSE 0 END AS PROCEDURE_TYPE, ROUTINE_NAME AS SPECIFIC_NAME FROM INFORMATION_SCHEMA.ROUTINES WHERE ROUTINE_SCHEMA = 'study' AND ROUTINE_NAME LIKE '%' ORDER BY ROUTINE_SCHEMA, ROUTINE_NAME, ROUTINE_TYPE
;;
SELECT TABLE_SCHEMA, NULL, TABLE_NAME, COLUMN_NAME, NULL AS GRANTOR, GRANTEE, PRIVILEGE_TYPE AS PRIVILEGE, IS_GRANTABLE FROM INFORMATION_SCHEMA.COLUMN_PRIVILEGES WHERE TABLE_SCHEMA='study' AND TABLE_NAME ='visits' AND COLUMN_NAME LIKE '%' ORDER BY COLUMN_NAME, PRIVILEGE_TYPE
;;
-- source: StarRocks/starrocks#55626 (https://github.com/StarRocks/starrocks/issues/55626: getTables as sent by mysql-connector-j-9.2.0 for Tableau's JDBC path, schema renamed)
SELECT TABLE_SCHEMA AS TABLE_CAT, NULL AS TABLE_SCHEM, TABLE_NAME, CASE WHEN TABLE_TYPE='BASE TABLE' THEN CASE WHEN TABLE_SCHEMA='mysql' OR TABLE_SCHEMA='performance_schema' OR TABLE_SCHEMA='sys' THEN 'SYSTEM TABLE' ELSE 'TABLE' END WHEN TABLE_TYPE='TEMPORARY' THEN 'LOCAL_TEMPORARY' ELSE TABLE_TYPE END AS TABLE_TYPE, TABLE_COMMENT AS REMARKS, NULL AS TYPE_CAT, NULL AS TYPE_SCHEM, NULL AS TYPE_NAME, NULL AS SELF_REFERENCING_COL_NAME, NULL AS REF_GENERATION FROM INFORMATION_SCHEMA.TABLES WHERE TABLE_SCHEMA = 'study' HAVING TABLE_TYPE IN ('LOCAL TEMPORARY','TABLE','VIEW',null,null) ORDER BY TABLE_TYPE, TABLE_SCHEMA, TABLE_NAME
;;
-- source: variations of the calls above for names an application escaped (mysql/mysql-connector-j DatabaseMetaData.getSearchStringEscape() is "\\", so a caller looking up a name with "_" sends "\_"; a name with a quote). Not captured traffic: the statement forms are the driver's (src/main/user-impl/java/com/mysql/cj/jdbc/DatabaseMetaData.java and DatabaseMetaDataUsingInfoSchema.java@00d43c5e8b24f1d516f93eea900b3487c15a489c), the escaping Connector/J's: the SHOW path doubles quotes and leaves backslashes (StringUtils.quoteIdentifier(pattern, "'", true)), the information_schema path binds client-side, which backslash-escapes both (ClientPreparedQueryBindings.setString)
SHOW FULL TABLES FROM `study` LIKE 'sub\_jects'
;;
SHOW FULL COLUMNS FROM `visits` FROM `study` LIKE 'visit\_date'
;;
SHOW FULL TABLES FROM `study` LIKE 'O''Brien%'
;;
SELECT TABLE_SCHEMA AS TABLE_CAT, NULL AS TABLE_SCHEM, TABLE_NAME, CASE WHEN TABLE_TYPE='BASE TABLE' THEN CASE WHEN TABLE_SCHEMA = 'mysql' OR TABLE_SCHEMA = 'performance_schema' THEN 'SYSTEM TABLE' ELSE 'TABLE' END WHEN TABLE_TYPE='TEMPORARY' THEN 'LOCAL_TEMPORARY' ELSE TABLE_TYPE END AS TABLE_TYPE, TABLE_COMMENT AS REMARKS, NULL AS TYPE_CAT, NULL AS TYPE_SCHEM, NULL AS TYPE_NAME, NULL AS SELF_REFERENCING_COL_NAME, NULL AS REF_GENERATION FROM INFORMATION_SCHEMA.TABLES WHERE TABLE_SCHEMA = 'study' AND TABLE_NAME LIKE 'O\'Brien%' HAVING TABLE_TYPE IN ('TABLE','VIEW',null,null,null) ORDER BY TABLE_TYPE, TABLE_SCHEMA, TABLE_NAME
;;
SELECT TABLE_SCHEMA AS TABLE_CAT, NULL AS TABLE_SCHEM, TABLE_NAME, COLUMN_NAME, SEQ_IN_INDEX AS KEY_SEQ, 'PRIMARY' AS PK_NAME FROM INFORMATION_SCHEMA.STATISTICS WHERE TABLE_SCHEMA = 'study' AND TABLE_NAME = 'visits\\_x' AND INDEX_NAME='PRIMARY' ORDER BY TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME, SEQ_IN_INDEX
;;
-- note: getColumns (information_schema path, without the long type mapping) for a column pattern naming the withheld column: the server lists it, rrproxy must not
SELECT TABLE_SCHEMA AS TABLE_CAT, NULL AS TABLE_SCHEM, TABLE_NAME, COLUMN_NAME FROM INFORMATION_SCHEMA.COLUMNS WHERE TABLE_SCHEMA = 'study' AND TABLE_NAME = 'visits' AND COLUMN_NAME LIKE 'treatment\\_%' ORDER BY TABLE_SCHEMA, TABLE_NAME, ORDINAL_POSITION
;;
