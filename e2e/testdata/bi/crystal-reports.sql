-- SAP Crystal Reports over ODBC (MySQL Connector/ODBC DSN): the Database
-- Expert lists databases and tables, reads columns, keys and indexes, then the
-- report's own SELECT runs. Format: see connector-j.sql.
--
-- source: ODBC connect statements as in connector-odbc.sql (implydata/plyql#31, https://github.com/implydata/plyql/issues/31; mysql/mysql-connector-odbc driver/connect.cc)
SET NAMES utf8
;;
SET character_set_results = NULL
;;
SET SQL_AUTO_IS_NULL = 0
;;
set @@sql_select_limit=DEFAULT
;;
select database()
;;
-- source: SQLTables for the catalog list through Connector/ODBC 5.x, as received in implydata/plyql#31 ("SHOW DATABASES LIKE '%'"), and 8.x, mysql/mysql-connector-odbc driver/catalog.cc@3d487153f12eeb030ea2edd995fe7f3a3c61b029 db_status()
SHOW DATABASES LIKE '%'
;;
SELECT NULL, NULL, NULL, SCHEMA_NAME FROM INFORMATION_SCHEMA.SCHEMATA WHERE SCHEMA_NAME LIKE '%'  ORDER BY SCHEMA_NAME
;;
-- source: mysql/mysql-connector-odbc driver/catalog.cc@3d487153f12eeb030ea2edd995fe7f3a3c61b029 table_status_i_s() (SQLTables "TABLE","VIEW" for the database expanded)
SELECT TABLE_NAME,TABLE_COMMENT,IF(TABLE_TYPE='BASE TABLE', 'TABLE', TABLE_TYPE),TABLE_SCHEMA FROM INFORMATION_SCHEMA.TABLES WHERE TABLE_SCHEMA LIKE 'study' AND ( TABLE_TYPE='BASE TABLE' OR TABLE_TYPE='VIEW' ) AND TABLE_NAME LIKE '%' ORDER BY TABLE_SCHEMA, TABLE_NAME
;;
-- source: mysql/mysql-connector-odbc driver/catalog.cc@3d487153f12eeb030ea2edd995fe7f3a3c61b029 columns_i_s() (SQLColumns as a server-side prepared statement)
-- params: ["study", "subjects"]
select TABLE_SCHEMA as TABLE_CATALOG,TABLE_SCHEMA,TABLE_NAME,COLUMN_NAME,DATA_TYPE,COLUMN_TYPE as TYPE_NAME,IF(ISNULL(CHARACTER_MAXIMUM_LENGTH), IF(DATA_TYPE LIKE 'bit',CAST((NUMERIC_PRECISION+7)/8 AS UNSIGNED),NUMERIC_PRECISION), CHARACTER_MAXIMUM_LENGTH) as COLUMN_SIZE,CHARACTER_OCTET_LENGTH as BUFFER_LENGTH,NUMERIC_SCALE as DECIMAL_DIGITS,IF(ISNULL(NUMERIC_PRECISION), NULL, 10) as NUM_PREC_RADIX,IF(EXTRA LIKE "%auto_increment%", "YES", IS_NULLABLE) as NULLABLE,COLUMN_COMMENT as REMARKS,IF(ISNULL(COLUMN_DEFAULT), "NULL", IF(ISNULL(NUMERIC_PRECISION), CONCAT("'", COLUMN_DEFAULT, "'"),COLUMN_DEFAULT)) as COLUMN_DEF,0 as SQL_DATA_TYPE,NULL as SQL_DATA_TYPE_SUB,CHARACTER_OCTET_LENGTH as CHAR_OCTET_LENGTH,ORDINAL_POSITION,IF(EXTRA LIKE "%auto_increment%", "YES", IS_NULLABLE) AS IS_NULLABLE,CAST(CHARACTER_OCTET_LENGTH/CHARACTER_MAXIMUM_LENGTH AS SIGNED) AS CHAR_SIZE FROM information_schema.COLUMNS c WHERE 1=1 AND c.TABLE_SCHEMA  LIKE ? AND c.TABLE_NAME LIKE ? ORDER BY ORDINAL_POSITION
;;
-- params: ["study", "visits"]
select TABLE_SCHEMA as TABLE_CATALOG,TABLE_SCHEMA,TABLE_NAME,COLUMN_NAME,DATA_TYPE,COLUMN_TYPE as TYPE_NAME,IF(ISNULL(CHARACTER_MAXIMUM_LENGTH), IF(DATA_TYPE LIKE 'bit',CAST((NUMERIC_PRECISION+7)/8 AS UNSIGNED),NUMERIC_PRECISION), CHARACTER_MAXIMUM_LENGTH) as COLUMN_SIZE,CHARACTER_OCTET_LENGTH as BUFFER_LENGTH,NUMERIC_SCALE as DECIMAL_DIGITS,IF(ISNULL(NUMERIC_PRECISION), NULL, 10) as NUM_PREC_RADIX,IF(EXTRA LIKE "%auto_increment%", "YES", IS_NULLABLE) as NULLABLE,COLUMN_COMMENT as REMARKS,IF(ISNULL(COLUMN_DEFAULT), "NULL", IF(ISNULL(NUMERIC_PRECISION), CONCAT("'", COLUMN_DEFAULT, "'"),COLUMN_DEFAULT)) as COLUMN_DEF,0 as SQL_DATA_TYPE,NULL as SQL_DATA_TYPE_SUB,CHARACTER_OCTET_LENGTH as CHAR_OCTET_LENGTH,ORDINAL_POSITION,IF(EXTRA LIKE "%auto_increment%", "YES", IS_NULLABLE) AS IS_NULLABLE,CAST(CHARACTER_OCTET_LENGTH/CHARACTER_MAXIMUM_LENGTH AS SIGNED) AS CHAR_SIZE FROM information_schema.COLUMNS c WHERE 1=1 AND c.TABLE_SCHEMA  LIKE ? AND c.TABLE_NAME LIKE ? ORDER BY ORDINAL_POSITION
;;
-- source: mysql/mysql-connector-odbc driver/catalog_no_i_s.cc@04861ab4e74e42f376447195969ae9b0cc622d86 server_list_dbkeys() (SQLPrimaryKeys and SQLStatistics, which the Database Expert's Links tab reads)
SHOW KEYS FROM `study`.`subjects`
;;
SHOW KEYS FROM `study`.`visits`
;;
-- source: mysql/mysql-connector-odbc driver/catalog.cc@010947c28a385ce59110ad52c1c14ee0ebc44e3f foreign_keys_i_s() (SQLForeignKeys for the Links tab)
SELECT A.REFERENCED_TABLE_SCHEMA AS PKTABLE_CAT,NULL AS PKTABLE_SCHEM,A.REFERENCED_TABLE_NAME AS PKTABLE_NAME,A.REFERENCED_COLUMN_NAME AS PKCOLUMN_NAME,A.TABLE_SCHEMA AS FKTABLE_CAT, NULL AS FKTABLE_SCHEM,A.TABLE_NAME AS FKTABLE_NAME,A.COLUMN_NAME AS FKCOLUMN_NAME,A.ORDINAL_POSITION AS KEY_SEQ,CASE WHEN R.UPDATE_RULE = 'CASCADE' THEN 0 WHEN R.UPDATE_RULE = 'SET NULL' THEN 2 WHEN R.UPDATE_RULE = 'SET DEFAULT' THEN 4 WHEN R.UPDATE_RULE = 'SET RESTRICT' THEN 1 WHEN R.UPDATE_RULE = 'SET NO ACTION' THEN 3 ELSE 3 END AS UPDATE_RULE,CASE WHEN R.DELETE_RULE = 'CASCADE' THEN 0 WHEN R.DELETE_RULE = 'SET NULL' THEN 2 WHEN R.DELETE_RULE = 'SET DEFAULT' THEN 4 WHEN R.DELETE_RULE = 'SET RESTRICT' THEN 1 WHEN R.DELETE_RULE = 'SET NO ACTION' THEN 3 ELSE 3 END AS DELETE_RULE,A.CONSTRAINT_NAME AS FK_NAME,'PRIMARY' AS PK_NAME,7 AS DEFERRABILITY FROM INFORMATION_SCHEMA.KEY_COLUMN_USAGE A JOIN INFORMATION_SCHEMA.KEY_COLUMN_USAGE D ON (D.TABLE_SCHEMA=A.REFERENCED_TABLE_SCHEMA AND D.TABLE_NAME=A.REFERENCED_TABLE_NAME AND D.COLUMN_NAME=A.REFERENCED_COLUMN_NAME) JOIN INFORMATION_SCHEMA.REFERENTIAL_CONSTRAINTS R ON (R.CONSTRAINT_NAME = A.CONSTRAINT_NAME AND R.TABLE_NAME = A.TABLE_NAME AND R.CONSTRAINT_SCHEMA = A.TABLE_SCHEMA) WHERE D.CONSTRAINT_NAME='PRIMARY' AND A.TABLE_SCHEMA = 'study' AND A.TABLE_NAME = 'visits' ORDER BY FKTABLE_CAT, FKTABLE_NAME, KEY_SEQ, PKTABLE_NAME
;;
-- source: Crystal Reports documentation, "Defining Virtual Tables Based on a Command/SQL Query" (Crystal Reports help shipped in IBM Rational's com.businessobjects.win32.nl plug-in, http://ftp3.us.freebsd.org/pub/misc/ftp.software.ibm.com/software/rationalsdp/rsa/60/update/features/updater.crystal.plugins.win32.nl1.601_1.0.0/com.businessobjects.win32.nl.zip): the SQL Crystal sends through ODBC, names backtick-quoted and each table aliased by its own name ("FROM Customer Customer INNER JOIN Orders Orders ON Customer.`Customer ID` = Orders.`Customer ID`"); the example's tables and columns are replaced by the test schema's, its shape kept
SELECT
    subjects.`subject_id`,
    subjects.`sex`,
    subjects.`birth_year`,
    visits.`visit_name`,
    visits.`visit_date`,
    visits.`systolic_bp`
FROM
    subjects subjects INNER JOIN visits visits ON
        subjects.`subject_id` = visits.`subject_id`
WHERE
    (subjects.`sex` = 'F' OR
    subjects.`sex` = 'M') AND
    visits.`systolic_bp` < 140
ORDER BY
    subjects.`subject_id`
;;
