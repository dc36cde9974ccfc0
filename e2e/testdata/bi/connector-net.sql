-- MySQL Connector/NET (MySql.Data): the statements the ADO.NET provider sends
-- on open and for MySqlConnection.GetSchema(...), which .NET tools (Power BI's
-- MySQL connector, SSIS, Spotfire's ADO.NET data sources, Visual Studio) use
-- to list databases, tables, columns, indexes and keys. Format: see
-- connector-j.sql.
--
-- source: mysql/mysql-connector-net MySQL.Data/src/Driver.cs@04f5a2eefe013be40d69edda7ddb0125aa1efb52 (Configure, LoadServerProperties, GetTimeZoneOffset, LoadCharacterSets; a C# verbatim string, so the newline, the indentation and the trailing ";" are sent)
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
SHOW WARNINGS
;;
-- source: mysql/mysql-connector-net MySQL.Data/src/ISSchemaProvider.cs@1f83ad493ea5ea1a77f8aa9631241250f004856b (GetSchema "Databases", "Tables", "Columns", "Views", "ViewColumns", "Procedures", "Triggers": SELECT * FROM INFORMATION_SCHEMA.<table> WHERE <key> LIKE '<restriction>')
SELECT * FROM INFORMATION_SCHEMA.SCHEMATA
;;
SELECT * FROM INFORMATION_SCHEMA.SCHEMATA WHERE SCHEMA_NAME LIKE 'study'
;;
SELECT * FROM INFORMATION_SCHEMA.TABLES WHERE TABLE_TYPE != 'VIEW'
;;
SELECT * FROM INFORMATION_SCHEMA.TABLES WHERE TABLE_TYPE != 'VIEW' AND TABLE_SCHEMA LIKE 'study'
;;
SELECT * FROM INFORMATION_SCHEMA.TABLES WHERE TABLE_TYPE != 'VIEW' AND TABLE_SCHEMA LIKE 'study' AND TABLE_NAME LIKE 'visits' AND TABLE_TYPE LIKE 'BASE TABLE'
;;
SELECT * FROM INFORMATION_SCHEMA.COLUMNS WHERE TABLE_SCHEMA LIKE 'study' AND TABLE_NAME LIKE 'visits' ORDER BY ORDINAL_POSITION
;;
SELECT * FROM INFORMATION_SCHEMA.COLUMNS WHERE TABLE_SCHEMA LIKE 'study' ORDER BY ORDINAL_POSITION
;;
SELECT * FROM INFORMATION_SCHEMA.VIEWS WHERE TABLE_SCHEMA LIKE 'study'
;;
SELECT C.* FROM information_schema.columns C JOIN information_schema.views V ON C.table_schema=V.table_schema AND C.table_name=V.table_name  WHERE C.table_schema='study'
;;
SELECT * FROM INFORMATION_SCHEMA.ROUTINES WHERE ROUTINE_SCHEMA LIKE 'study'
;;
SELECT * FROM INFORMATION_SCHEMA.PARAMETERS WHERE 1=2
;;
SELECT * FROM INFORMATION_SCHEMA.TRIGGERS WHERE TRIGGER_SCHEMA LIKE 'study' AND EVENT_OBJECT_TABLE LIKE 'visits'
;;
-- source: mysql/mysql-connector-net MySQL.Data/src/ISSchemaProvider.cs@1f83ad493ea5ea1a77f8aa9631241250f004856b GetForeignKeys, GetForeignKeyColumns (verbatim multi-line strings; note <=>)
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
-- note: no restriction: every schema's foreign keys
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
                kcu.ORDINAL_POSITION=1 WHERE 1=1
;;
-- source: mysql/mysql-connector-net MySQL.Data/src/SchemaProvider.cs@09baefe1cd83f138f32b5018098725ca57740f16 (GetDatabases, LoadTableColumns, GetIndexes, GetIndexColumns: the SHOW forms)
SHOW DATABASES
;;
SHOW DATABASES LIKE 'study'
;;
SHOW FULL COLUMNS FROM `study`.`visits`
;;
SHOW INDEX FROM `study`.`visits`
;;
SHOW INDEX FROM `study`.`subjects`
;;
SHOW CREATE TABLE `study`.`visits`
;;
