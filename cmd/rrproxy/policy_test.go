package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPolicyCheckSummarisesExample(t *testing.T) {
	var out bytes.Buffer
	if err := cmdPolicy([]string{"check", "../../policy.yaml"}, &out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"../../policy.yaml: ok (policy version ",
		"hidden column study.visits.treatment_arm  [rule treatment-blinding]",
		"masked column study.subjects.birth_year as null  [rule site-monitoring]",
		"masked column study.subjects.subject_id as pseudonym",
		"carol (disabled)",
		"max_rows=50000",
		"rule proposed-birth-year-minimisation is in shadow mode",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, out.String())
		}
	}
}

func TestPolicyCheckReportsFileLine(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "policy.yaml")
	text := "rules:\n  - id: r1\n    to: [\"*\"]\n    allow: [study.*]\n    mask_columns:\n      - {column: study.subjects.sex, with: blur}\n"
	if err := os.WriteFile(bad, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	err := cmdPolicy([]string{"check", bad}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), bad+":6:") || !strings.Contains(err.Error(), `"blur"`) {
		t.Fatalf("want file:line error naming the bad mask, got %v", err)
	}
}

func TestPolicyTestRunsExampleSuite(t *testing.T) {
	var out bytes.Buffer
	err := cmdPolicy([]string{"test", "-policy", "../../policy.yaml", "../../policy-tests.yaml"}, &out)
	if err != nil {
		t.Fatalf("example policy tests: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "14 tests, 0 failed") {
		t.Fatalf("unexpected output:\n%s", out.String())
	}
}

func TestPolicyTestReportsFailingCase(t *testing.T) {
	dir := t.TempDir()
	suite := filepath.Join(dir, "t.yaml")
	text := "tests:\n  - name: ok case\n    user: alice\n    sql: SELECT 1\n    expect: allow\n  - name: wrong expectation\n    user: bob\n    sql: SELECT title FROM study.studies\n    expect: allow\n"
	if err := os.WriteFile(suite, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	err := cmdPolicy([]string{"test", "-policy", "../../policy.yaml", suite}, &out)
	if !errors.Is(err, errTestsFailed) {
		t.Fatalf("want errTestsFailed, got %v", err)
	}
	if !strings.Contains(out.String(), "FAIL "+suite+":6: wrong expectation: want allow, got hidden") || !strings.Contains(out.String(), "ok   ok case") {
		t.Fatalf("output:\n%s", out.String())
	}
}

func TestPolicyExplainAndSchema(t *testing.T) {
	var out bytes.Buffer
	err := cmdPolicy([]string{"explain", "-policy", "../../policy.yaml", "-user", "dave", "-db", "study",
		"-catalog", "../../policy-tests.yaml", "SELECT * FROM sites"}, &out)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"decision: ALLOW", "'(withheld)' AS `principal_investigator`", "tables:   study.sites"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("explain lacks %q:\n%s", want, out.String())
		}
	}
	out.Reset()
	if err := cmdPolicy([]string{"explain", "-policy", "../../policy.yaml", "-user", "bob", "SELECT * FROM ops.site_payments"}, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "decision: DENY") || !strings.Contains(out.String(), "rule:     default-deny") {
		t.Errorf("explain of a denial:\n%s", out.String())
	}
	out.Reset()
	if err := cmdPolicy([]string{"schema"}, &out); err != nil {
		t.Fatal(err)
	}
	var schema map[string]any
	if err := json.Unmarshal(out.Bytes(), &schema); err != nil || schema["title"] != "rrproxy policy.yaml" {
		t.Fatalf("schema output: %v %v", err, schema["title"])
	}
}
