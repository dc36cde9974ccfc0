package sandbox

// schema is the DDL run, once the databases exist, before the sample rows
// are inserted. It goes through the SQL engine rather than the memory
// package's table API so that keys, comments and column types look to SHOW
// CREATE TABLE and information_schema as they would on a MySQL server.
//
// Primary keys are declared on the column, not as a table constraint: for
// the latter GMS v0.20.0 creates the table through CreateIndexedTable, which
// has no comment parameter, and the table comment is silently lost (ALTER
// TABLE ... COMMENT does not restore it either).
var schema = []string{
	`CREATE TABLE study.studies (
	study_id   VARCHAR(16)  NOT NULL PRIMARY KEY COMMENT 'Sponsor protocol number',
	title      VARCHAR(200) NOT NULL COMMENT 'Official study title',
	phase      VARCHAR(4)   NOT NULL COMMENT 'Clinical phase: I, II, III or IV',
	sponsor    VARCHAR(100) NOT NULL COMMENT 'Sponsoring organisation',
	status     VARCHAR(24)  NOT NULL COMMENT 'Recruitment status, ClinicalTrials.gov vocabulary',
	start_date DATE         NOT NULL COMMENT 'Date the first subject was screened'
) COMMENT='Clinical studies'`,

	`CREATE TABLE study.sites (
	site_id                INT          NOT NULL PRIMARY KEY COMMENT 'Site number, unique across studies',
	study_id               VARCHAR(16)  NOT NULL COMMENT 'Study the site recruits for',
	name                   VARCHAR(100) NOT NULL COMMENT 'Site name',
	country                CHAR(2)      NOT NULL COMMENT 'ISO 3166-1 alpha-2 country code',
	principal_investigator VARCHAR(100) NOT NULL COMMENT 'Investigator responsible at the site',
	KEY idx_sites_study (study_id),
	CONSTRAINT fk_sites_study FOREIGN KEY (study_id) REFERENCES studies (study_id)
) COMMENT='Investigational sites'`,

	`CREATE TABLE study.subjects (
	subject_id  VARCHAR(16) NOT NULL PRIMARY KEY COMMENT 'Pseudonymous subject number S-<site>-<seq>',
	study_id    VARCHAR(16) NOT NULL COMMENT 'Study the subject is enrolled in',
	site_id     INT         NOT NULL COMMENT 'Enrolling site',
	sex         CHAR(1)     NOT NULL COMMENT 'Sex at birth: F or M',
	birth_year  INT         NOT NULL COMMENT 'Year of birth (no full date: data minimisation)',
	enrolled_on DATE        NOT NULL COMMENT 'Baseline visit date',
	status      VARCHAR(16) NOT NULL COMMENT 'SCREEN_FAILED, ENROLLED, COMPLETED or WITHDRAWN',
	KEY idx_subjects_site (site_id),
	CONSTRAINT fk_subjects_study FOREIGN KEY (study_id) REFERENCES studies (study_id),
	CONSTRAINT fk_subjects_site FOREIGN KEY (site_id) REFERENCES sites (site_id)
) COMMENT='Study participants, pseudonymised'`,

	`CREATE TABLE study.visits (
	visit_id      INT          NOT NULL PRIMARY KEY COMMENT 'Visit record number',
	subject_id    VARCHAR(16)  NOT NULL COMMENT 'Subject seen',
	visit_name    VARCHAR(16)  NOT NULL COMMENT 'Protocol visit: Screening, Baseline, Week 4, Week 8, Week 12',
	visit_date    DATE         NOT NULL COMMENT 'Date the visit took place',
	systolic_bp   INT          NOT NULL COMMENT 'Seated systolic blood pressure, mmHg',
	diastolic_bp  INT          NOT NULL COMMENT 'Seated diastolic blood pressure, mmHg',
	weight_kg     DECIMAL(5,1) NOT NULL COMMENT 'Body weight, kg',
	treatment_arm VARCHAR(8)   NOT NULL COMMENT 'BLINDED: randomised arm, ACTIVE or PLACEBO',
	KEY idx_visits_subject (subject_id),
	CONSTRAINT fk_visits_subject FOREIGN KEY (subject_id) REFERENCES subjects (subject_id)
) COMMENT='Scheduled visits and vital signs'`,

	`CREATE TABLE ops.site_payments (
	payment_id INT           NOT NULL PRIMARY KEY COMMENT 'Payment number',
	site_id    INT           NOT NULL COMMENT 'Site paid (study.sites.site_id)',
	amount_eur DECIMAL(10,2) NOT NULL COMMENT 'Amount paid, EUR',
	paid_on    DATE          NOT NULL COMMENT 'Value date',
	reference  VARCHAR(32)   NOT NULL COMMENT 'Bank transfer reference',
	KEY idx_site_payments_site (site_id)
) COMMENT='Investigator grant payments to sites'`,
}
