-- Amazon QuickSight, MySQL data source (also used for Aurora MySQL and for
-- MySQL-protocol servers): it reads the catalog through Connector/J's
-- DatabaseMetaData with the SHOW forms (useInformationSchema off), as the
-- ClickHouse issues below show. Format: see connector-j.sql.
--
-- source: Connector/J's connect statements against a server announcing a 5.x version (see connector-j.sql: mysql/mysql-connector-j src/main/core-impl/java/com/mysql/cj/NativeSession.java loadServerVariables, captured for mysql-connector-java-8.0.22)
/* mysql-connector-java-8.0.22 (Revision: d64b664fa93e81296a377de031b8123a67e6def2) */SELECT  @@session.auto_increment_increment AS auto_increment_increment, @@character_set_client AS character_set_client, @@character_set_connection AS character_set_connection, @@character_set_results AS character_set_results, @@character_set_server AS character_set_server, @@collation_server AS collation_server, @@collation_connection AS collation_connection, @@init_connect AS init_connect, @@interactive_timeout AS interactive_timeout, @@license AS license, @@lower_case_table_names AS lower_case_table_names, @@max_allowed_packet AS max_allowed_packet, @@net_write_timeout AS net_write_timeout, @@performance_schema AS performance_schema, @@query_cache_size AS query_cache_size, @@query_cache_type AS query_cache_type, @@sql_mode AS sql_mode, @@system_time_zone AS system_time_zone, @@time_zone AS time_zone, @@tx_isolation AS transaction_isolation, @@wait_timeout AS wait_timeout
;;
SET NAMES latin1
;;
SET character_set_results = NULL
;;
SET autocommit=1
;;
-- source: mysql/mysql-connector-j src/main/user-impl/java/com/mysql/cj/jdbc/DatabaseMetaData.java@00d43c5e8b24f1d516f93eea900b3487c15a489c getCatalogs (QuickSight's database list)
SHOW DATABASES
;;
-- source: ClickHouse/ClickHouse#43748 (https://github.com/ClickHouse/ClickHouse/issues/43748: "QuickSight issues a query SHOW FULL TABLES FROM `default` LIKE '%'"; database renamed)
SHOW FULL TABLES FROM `study` LIKE '%'
;;
-- source: mysql/mysql-connector-j DatabaseMetaData.java@00d43c5e8b24f1d516f93eea900b3487c15a489c getColumns (table list for the pattern, then the columns) for the table picked in QuickSight's data set editor
SHOW FULL TABLES FROM `study` LIKE 'visits'
;;
SHOW FULL COLUMNS FROM `visits` FROM `study` LIKE '%'
;;
-- source: ClickHouse/ClickHouse#49140 (https://github.com/ClickHouse/ClickHouse/issues/49140: "Some BI tools like QuickSight want to query indices using ... SHOW KEYS FROM `cell_towers` FROM `default`"; names renamed)
SHOW KEYS FROM `visits` FROM `study`
;;
SHOW FULL TABLES FROM `study` LIKE 'subjects'
;;
SHOW FULL COLUMNS FROM `subjects` FROM `study` LIKE '%'
;;
SHOW KEYS FROM `subjects` FROM `study`
;;
