-- Tableau Desktop / Server with the MySQL connector (Tableau drives MySQL
-- through the MySQL ODBC driver; its "Other Databases (JDBC)" path through
-- Connector/J). Format: see connector-j.sql.
--
-- source: implydata/plyql#31 (https://github.com/implydata/plyql/issues/31: the statements Tableau sent on connect, MySQL ODBC 5.x underneath)
SET NAMES utf8
;;
SET character_set_results = NULL
;;
SET SQL_AUTO_IS_NULL = 0
;;
set @@sql_select_limit=DEFAULT
;;
SELECT CONNECTION_ID()
;;
SELECT `table_name`, `column_name`
FROM `information_schema`.`columns`
WHERE `data_type`='enum' AND `table_schema`=''
;;
-- source: Tableau's connect-time temp-table capability check: the DROP is verbatim from implydata/plyql#31; the CREATE before it is reconstructed (the log does not show it) from the check's documented shape, "CREATE LOCAL TEMPORARY TABLE ..._Connect_CheckCreateTempTableCap ( COL INTEGER )" in amazon-archives/sql-jdbc#2 (https://github.com/amazon-archives/sql-jdbc/issues/2), in MySQL syntax; tableau/connector-plugin-sdk docs/design.md: "the connector will perform a simple check at connection time ... to confirm that the user can create a temp table"
-- refused: read-only: rrproxy refuses every write, temporary tables included (biRefusedByDesign)
CREATE TEMPORARY TABLE `#Tableau_sid_00000001_1_Connect` (`COL` INT)
;;
-- refused: read-only: rrproxy refuses every write, temporary tables included (biRefusedByDesign)
DROP TABLE `#Tableau_sid_00000001_1_Connect`
;;
-- source: implydata/plyql#31 (after the temp-table check, on the same session)
SELECT CONNECTION_ID()
;;
SELECT `table_name`, `column_name`
FROM `information_schema`.`columns`
WHERE `data_type`='enum' AND `table_schema`=''
;;
SHOW DATABASES LIKE '%'
;;
-- source: implydata/plyql#31 and #32 (second connection, after picking a database: ODBC SQLTables and SQLForeignKeys; the SQLTables text is mysql/mysql-connector-odbc driver/catalog.cc@010947c28a385ce59110ad52c1c14ee0ebc44e3f table_status_i_s, quoted for Tableau in src-d/go-mysql-server#489)
SELECT TABLE_NAME, TABLE_COMMENT, TABLE_TYPE, TABLE_SCHEMA FROM ( SELECT * FROM INFORMATION_SCHEMA.TABLES  WHERE TABLE_SCHEMA LIKE 'study' AND ( TABLE_TYPE='BASE TABLE' OR TABLE_TYPE='VIEW' ) ) TABLES WHERE TABLE_NAME LIKE '%'
;;
SELECT A.REFERENCED_TABLE_SCHEMA AS PKTABLE_CAT,NULL AS PKTABLE_SCHEM,A.REFERENCED_TABLE_NAME AS PKTABLE_NAME,A.REFERENCED_COLUMN_NAME AS PKCOLUMN_NAME,A.TABLE_SCHEMA AS FKTABLE_CAT, NULL AS FKTABLE_SCHEM,A.TABLE_NAME AS FKTABLE_NAME,A.COLUMN_NAME AS FKCOLUMN_NAME,A.ORDINAL_POSITION AS KEY_SEQ,CASE WHEN R.UPDATE_RULE = 'CASCADE' THEN 0 WHEN R.UPDATE_RULE = 'SET NULL' THEN 2 WHEN R.UPDATE_RULE = 'SET DEFAULT' THEN 4 WHEN R.UPDATE_RULE = 'SET RESTRICT' THEN 1 WHEN R.UPDATE_RULE = 'SET NO ACTION' THEN 3 ELSE 3 END AS UPDATE_RULE,CASE WHEN R.DELETE_RULE = 'CASCADE' THEN 0 WHEN R.DELETE_RULE = 'SET NULL' THEN 2 WHEN R.DELETE_RULE = 'SET DEFAULT' THEN 4 WHEN R.DELETE_RULE = 'SET RESTRICT' THEN 1 WHEN R.DELETE_RULE = 'SET NO ACTION' THEN 3 ELSE 3 END AS DELETE_RULE,A.CONSTRAINT_NAME AS FK_NAME,'PRIMARY' AS PK_NAME,7 AS DEFERRABILITY FROM INFORMATION_SCHEMA.KEY_COLUMN_USAGE A JOIN INFORMATION_SCHEMA.KEY_COLUMN_USAGE D ON (D.TABLE_SCHEMA=A.REFERENCED_TABLE_SCHEMA AND D.TABLE_NAME=A.REFERENCED_TABLE_NAME AND D.COLUMN_NAME=A.REFERENCED_COLUMN_NAME) JOIN INFORMATION_SCHEMA.REFERENTIAL_CONSTRAINTS R ON (R.CONSTRAINT_NAME = A.CONSTRAINT_NAME AND R.TABLE_NAME = A.TABLE_NAME AND R.CONSTRAINT_SCHEMA = A.TABLE_SCHEMA) WHERE D.CONSTRAINT_NAME='PRIMARY' AND A.TABLE_SCHEMA = 'study' AND A.TABLE_NAME = 'visits' ORDER BY FKTABLE_CAT, FKTABLE_NAME, KEY_SEQ, PKTABLE_NAME
;;
-- source: mysql/mysql-connector-odbc driver/catalog_no_i_s.cc@04861ab4e74e42f376447195969ae9b0cc622d86 (SQLPrimaryKeys/SQLStatistics, which Tableau reads per table: "ReadPrimaryKeys" in ClickHouse/clickhouse-odbc#227, https://github.com/ClickHouse/clickhouse-odbc/issues/227)
SHOW KEYS FROM `study`.`visits`
;;
SHOW KEYS FROM `study`.`subjects`
;;
-- source: mysql/mysql-connector-odbc driver/catalog.cc@3d487153f12eeb030ea2edd995fe7f3a3c61b029 columns_i_s (SQLColumns for the table dragged onto the canvas)
-- params: ["study", "visits"]
select TABLE_SCHEMA as TABLE_CATALOG,TABLE_SCHEMA,TABLE_NAME,COLUMN_NAME,DATA_TYPE,COLUMN_TYPE as TYPE_NAME,IF(ISNULL(CHARACTER_MAXIMUM_LENGTH), IF(DATA_TYPE LIKE 'bit',CAST((NUMERIC_PRECISION+7)/8 AS UNSIGNED),NUMERIC_PRECISION), CHARACTER_MAXIMUM_LENGTH) as COLUMN_SIZE,CHARACTER_OCTET_LENGTH as BUFFER_LENGTH,NUMERIC_SCALE as DECIMAL_DIGITS,IF(ISNULL(NUMERIC_PRECISION), NULL, 10) as NUM_PREC_RADIX,IF(EXTRA LIKE "%auto_increment%", "YES", IS_NULLABLE) as NULLABLE,COLUMN_COMMENT as REMARKS,IF(ISNULL(COLUMN_DEFAULT), "NULL", IF(ISNULL(NUMERIC_PRECISION), CONCAT("'", COLUMN_DEFAULT, "'"),COLUMN_DEFAULT)) as COLUMN_DEF,0 as SQL_DATA_TYPE,NULL as SQL_DATA_TYPE_SUB,CHARACTER_OCTET_LENGTH as CHAR_OCTET_LENGTH,ORDINAL_POSITION,IF(EXTRA LIKE "%auto_increment%", "YES", IS_NULLABLE) AS IS_NULLABLE,CAST(CHARACTER_OCTET_LENGTH/CHARACTER_MAXIMUM_LENGTH AS SIGNED) AS CHAR_SIZE FROM information_schema.COLUMNS c WHERE 1=1 AND c.TABLE_SCHEMA  LIKE ? AND c.TABLE_NAME LIKE ? ORDER BY ORDINAL_POSITION
;;
-- source: StarRocks/starrocks#55626 (https://github.com/StarRocks/starrocks/issues/55626: Tableau's "Other Databases (JDBC)" with mysql-connector-j-9.2.0 listing tables; schema renamed)
SELECT TABLE_SCHEMA AS TABLE_CAT, NULL AS TABLE_SCHEM, TABLE_NAME, CASE WHEN TABLE_TYPE='BASE TABLE' THEN CASE WHEN TABLE_SCHEMA='mysql' OR TABLE_SCHEMA='performance_schema' OR TABLE_SCHEMA='sys' THEN 'SYSTEM TABLE' ELSE 'TABLE' END WHEN TABLE_TYPE='TEMPORARY' THEN 'LOCAL_TEMPORARY' ELSE TABLE_TYPE END AS TABLE_TYPE, TABLE_COMMENT AS REMARKS, NULL AS TYPE_CAT, NULL AS TYPE_SCHEM, NULL AS TYPE_NAME, NULL AS SELF_REFERENCING_COL_NAME, NULL AS REF_GENERATION FROM INFORMATION_SCHEMA.TABLES WHERE TABLE_SCHEMA = 'study' HAVING TABLE_TYPE IN ('LOCAL TEMPORARY','TABLE','VIEW',null,null) ORDER BY TABLE_TYPE, TABLE_SCHEMA, TABLE_NAME
;;
-- note: the same with Tableau's database drop-down left empty (every schema)
SELECT TABLE_SCHEMA AS TABLE_CAT, NULL AS TABLE_SCHEM, TABLE_NAME, CASE WHEN TABLE_TYPE='BASE TABLE' THEN CASE WHEN TABLE_SCHEMA='mysql' OR TABLE_SCHEMA='performance_schema' OR TABLE_SCHEMA='sys' THEN 'SYSTEM TABLE' ELSE 'TABLE' END WHEN TABLE_TYPE='TEMPORARY' THEN 'LOCAL_TEMPORARY' ELSE TABLE_TYPE END AS TABLE_TYPE, TABLE_COMMENT AS REMARKS, NULL AS TYPE_CAT, NULL AS TYPE_SCHEM, NULL AS TYPE_NAME, NULL AS SELF_REFERENCING_COL_NAME, NULL AS REF_GENERATION FROM INFORMATION_SCHEMA.TABLES HAVING TABLE_TYPE IN ('LOCAL TEMPORARY','TABLE','VIEW',null,null) ORDER BY TABLE_TYPE, TABLE_SCHEMA, TABLE_NAME
;;
