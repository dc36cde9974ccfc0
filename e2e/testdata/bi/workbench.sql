-- MySQL Workbench SQL editor: open a connection (Workbench opens a user and
-- an auxiliary connection over Connector/C++ and runs the same start-up on
-- both; one session is replayed here), browse the Navigator, run "Select
-- Rows". Format: see connector-j.sql.
--
-- source: mysql/mysql-workbench modules/db.mysql.sqlparser/src/mysql_sql_specifics.cpp@0547d4df92a99980fce636777faff72d9678bb85 (get_connection_startup_script, query_connection_id, query_variable) and backend/wbprivate/sqlide/wb_sql_editor_form.cpp@0021f1bac3190c0b46d8b0bf6c8773251009a50c (init_connection, create_connection, do_connect, cache_sql_mode)
SET CHARACTER SET utf8
;;
SET NAMES utf8
;;
SET SQL_SAFE_UPDATES=1
;;
SELECT CONNECTION_ID()
;;
SHOW SESSION STATUS LIKE 'Ssl_cipher'
;;
-- note: Connector/C++ setSchema() and setAutoCommit(); the latter goes through the C API's mysql_autocommit()
USE `study`
;;
set autocommit=1
;;
SHOW SESSION VARIABLES LIKE 'sql_mode'
;;
SHOW SESSION VARIABLES LIKE 'version_comment'
;;
SHOW SESSION VARIABLES LIKE 'version'
;;
-- source: vitessio/vitess#7697 (https://github.com/vitessio/vitess/issues/7697: Workbench 8.0.23 fails on login when current_user() fails) and wb_sql_editor_form.cpp above (do_connect)
SELECT current_user()
;;
SHOW SESSION VARIABLES LIKE 'lower_case_table_names'
;;
-- source: mysql/mysql-workbench backend/wbprivate/sqlide/wb_sql_editor_tree_controller.cpp@0025d66ad2176df7d647bc052ed0f32cd1298858 (fetch_schema_list through Connector/C++ getSchemata, do_fetch_live_schema_contents, fetch_column_data, fetch_trigger_data, fetch_index_data, fetch_foreign_key_data; sqlstring "!" quotes a name with backticks, "?" a value with single quotes)
SHOW DATABASES
;;
SHOW FULL TABLES FROM `study`
;;
SHOW PROCEDURE STATUS WHERE Db='study'
;;
SHOW FUNCTION STATUS WHERE Db='study'
;;
SHOW FULL COLUMNS FROM `study`.`visits`
;;
-- refused: statement-kinds refuses SHOW TRIGGERS (biRefusedByDesign)
SHOW TRIGGERS FROM `study` LIKE 'visits'
;;
SHOW INDEXES FROM `study`.`visits`
;;
SHOW CREATE TABLE `study`.`visits`
;;
SHOW FULL COLUMNS FROM `study`.`subjects`
;;
-- source: mysql/mysql-workbench modules/db.mysql.sqlparser/src/mysql_sql_specifics.cpp@0547d4df92a99980fce636777faff72d9678bb85 limit_select_query (the editor appends "\nLIMIT 0, 1000\n" to a SELECT without LIMIT: "Select Rows - Limit 1000")
SELECT * FROM `study`.`visits`
LIMIT 0, 1000
;;
-- source: mysql/mysql-workbench backend/wbprivate/sqlide/wb_sql_editor_form.cpp@0021f1bac3190c0b46d8b0bf6c8773251009a50c query_ps_statistics (after each query, on the auxiliary connection, for the Query Stats tab; the id is the user connection's CONNECTION_ID())
SELECT st.* FROM performance_schema.events_statements_current st JOIN performance_schema.threads thr ON thr.thread_id = st.thread_id WHERE thr.processlist_id = 1
;;
