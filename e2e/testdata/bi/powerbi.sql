-- Power BI Desktop / Service, "MySQL database" connector (MySql.Database).
-- It is built on Oracle MySQL Connector/NET (8.0.26 is the supported
-- version); its Navigator lists databases and tables, and reads columns,
-- indexes and, with "Include relationship columns", foreign keys, through the
-- ADO.NET schema collections of that provider. The ODBC path (Odbc.DataSource
-- with a MySQL DSN) is in connector-odbc.sql. Format: see connector-j.sql.
--
-- source: MicrosoftDocs/powerquery-docs powerquery-docs/connectors/mysql-database.md@0644e0fa02c13f852621df4d1bc3246a6868da74 (prerequisite: Connector/NET 8.0.26) and mysql/mysql-connector-net MySQL.Data/src/Driver.cs@04f5a2eefe013be40d69edda7ddb0125aa1efb52 (what Connector/NET sends on open)
SELECT @@max_allowed_packet, @@character_set_client, 
        @@character_set_connection, @@license, @@sql_mode, @@lower_case_table_names;
;;
SELECT TIMEDIFF(NOW(), UTC_TIMESTAMP())
;;
SHOW COLLATION
;;
SET NAMES utf8mb4
;;
SET character_set_results=NULL
;;
-- source: mysql/mysql-connector-net MySQL.Data/src/ISSchemaProvider.cs@1f83ad493ea5ea1a77f8aa9631241250f004856b (schema collections read by the Navigator: Databases, Tables, Columns, Foreign Keys)
SELECT * FROM INFORMATION_SCHEMA.SCHEMATA
;;
SELECT * FROM INFORMATION_SCHEMA.TABLES WHERE TABLE_TYPE != 'VIEW' AND TABLE_SCHEMA LIKE 'study'
;;
SELECT * FROM INFORMATION_SCHEMA.VIEWS WHERE TABLE_SCHEMA LIKE 'study'
;;
SELECT * FROM INFORMATION_SCHEMA.COLUMNS WHERE TABLE_SCHEMA LIKE 'study' AND TABLE_NAME LIKE 'subjects' ORDER BY ORDINAL_POSITION
;;
SELECT * FROM INFORMATION_SCHEMA.COLUMNS WHERE TABLE_SCHEMA LIKE 'study' AND TABLE_NAME LIKE 'visits' ORDER BY ORDINAL_POSITION
;;
SELECT rc.constraint_catalog, rc.constraint_schema,
                rc.constraint_name, kcu.table_catalog, kcu.table_schema, rc.table_name,
                rc.match_option, rc.update_rule, rc.delete_rule, 
                NULL as referenced_table_catalog,
                kcu.referenced_table_schema, rc.referenced_table_name 
                FROM INFORMATION_SCHEMA.REFERENTIAL_CONSTRAINTS rc
                LEFT JOIN INFORMATION_SCHEMA.KEY_COLUMN_USAGE kcu ON 
                kcu.constraint_catalog <=> rc.constraint_catalog AND
                kcu.constraint_schema <=> rc.constraint_schema AND 
                kcu.constraint_name <=> rc.constraint_name AND
                kcu.ORDINAL_POSITION=1 WHERE 1=1 AND rc.constraint_schema LIKE 'study' AND rc.table_name LIKE 'visits'
;;
SELECT kcu.* FROM INFORMATION_SCHEMA.KEY_COLUMN_USAGE kcu
                WHERE kcu.referenced_table_name IS NOT NULL AND kcu.constraint_schema LIKE 'study' AND kcu.table_name LIKE 'visits'
;;
-- source: mysql/mysql-connector-net MySQL.Data/src/SchemaProvider.cs@09baefe1cd83f138f32b5018098725ca57740f16 (Indexes / IndexColumns collections: the BASE TABLE list, then SHOW INDEX per table)
SELECT * FROM INFORMATION_SCHEMA.TABLES WHERE TABLE_TYPE != 'VIEW' AND TABLE_SCHEMA LIKE 'study' AND TABLE_TYPE LIKE 'BASE TABLE'
;;
SHOW INDEX FROM `study`.`subjects`
;;
SHOW INDEX FROM `study`.`visits`
;;
-- source: apache/doris#3334 (https://github.com/apache/doris/issues/3334: Power BI Desktop 2.79 sends "SHOW KEYS FROM `table`", captured on the wire) and databendlabs/databend#18909 (https://github.com/databendlabs/databend/pull/18909: Power BI needs SQL_AUTO_IS_NULL, SHOW KEYS FROM, SHOW COLUMNS FROM `TABLE`)
SHOW KEYS FROM `subjects`
;;
SHOW KEYS FROM `visits`
;;
SET SQL_AUTO_IS_NULL = 0
;;
SHOW COLUMNS FROM `visits`
;;
