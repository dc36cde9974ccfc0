-- Spotfire: Information Services data sources (Spotfire Server, JDBC with the
-- MySQL data source template, i.e. MySQL Connector/J) as used by Information
-- Designer to list catalogs, tables and columns, plus the template's
-- connection test. Format: see connector-j.sql.
--
-- source: Spotfire Server docs, "Setting up MySQL5 vendor driver" (https://docs.tibco.com/pub/spotfire_server/11.4.0/doc/html/TIB_sfire_server_tsas_admin_help/server/topics/setting_up_mysql5_vendor_driver.html: the MySQL5 template runs Connector/J 5.1 with useDynamicCharsetInfo=false) and a Wireshark capture of mysql-connector-java-5.1.45 connecting (public GitHub code index, Chinese write-up of the MySQL handshake): the 5.1 driver's first statement, then SHOW WARNINGS
/* mysql-connector-java-5.1.45 ( Revision: 9131eefa398531c7dc98776e8a3fe839e544c5b2 ) */SELECT  @@session.auto_increment_increment AS auto_increment_increment, @@character_set_client AS character_set_client, @@character_set_connection AS character_set_connection, @@character_set_results AS character_set_results, @@character_set_server AS character_set_server, @@collation_server AS collation_server, @@init_connect AS init_connect, @@interactive_timeout AS interactive_timeout, @@license AS license, @@lower_case_table_names AS lower_case_table_names, @@max_allowed_packet AS max_allowed_packet, @@net_buffer_length AS net_buffer_length, @@net_write_timeout AS net_write_timeout, @@have_query_cache AS have_query_cache, @@sql_mode AS sql_mode, @@system_time_zone AS system_time_zone, @@time_zone AS time_zone, @@transaction_isolation AS transaction_isolation, @@wait_timeout AS wait_timeout
;;
SHOW WARNINGS
;;
SET NAMES latin1
;;
SET character_set_results = NULL
;;
SET autocommit=1
;;
-- source: Spotfire Server docs, "XML settings for data source templates" (https://docs.tibco.com/pub/spotfire_server/latest/doc/html/TIB_sfire_server_tsas_admin_help/server/topics/xml_settings_for_data_source_templates.html: ping-command default "SELECT 1", table-types default "TABLE, VIEW", metadata through BasicJDBCMetadataProvider, i.e. JDBC DatabaseMetaData)
SELECT 1
;;
-- source: mysql/mysql-connector-j src/main/user-impl/java/com/mysql/cj/jdbc/DatabaseMetaData.java@00d43c5e8b24f1d516f93eea900b3487c15a489c (getCatalogs, getTables with types TABLE and VIEW, getColumns, getPrimaryKeys, getImportedKeys on the non-information_schema path)
SHOW DATABASES
;;
SHOW FULL TABLES FROM `information_schema` LIKE '%'
;;
SHOW FULL TABLES FROM `study` LIKE '%'
;;
SHOW FULL TABLES FROM `study` LIKE 'visits'
;;
SHOW FULL COLUMNS FROM `visits` FROM `study` LIKE '%'
;;
SHOW KEYS FROM `visits` FROM `study`
;;
SHOW CREATE TABLE `study`.`visits`
;;
SHOW FULL TABLES FROM `study` LIKE 'subjects'
;;
SHOW FULL COLUMNS FROM `subjects` FROM `study` LIKE '%'
;;
SHOW KEYS FROM `subjects` FROM `study`
;;
-- note: the connection test is repeated before each information link runs
SELECT 1
;;
