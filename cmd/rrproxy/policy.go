package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/rrproxy/rrproxy/authz"
)

const policyUsage = `usage:
  rrproxy policy check [policy.yaml]          validate; print who can read what
  rrproxy policy explain -user U [-groups g1,g2] [-db D] [-catalog tests.yaml] [-policy policy.yaml] "SQL"
                                              the decision, its rule, the objects touched, the rewrite
  rrproxy policy test [-policy policy.yaml] TESTS.yaml
                                              run policy regression tests
  rrproxy policy schema                       print the JSON Schema of policy.yaml
`

// errTestsFailed makes `policy test` exit non-zero after printing results.
var errTestsFailed = errors.New("policy tests failed")

func cmdPolicy(args []string, out io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("%s", policyUsage)
	}
	switch args[0] {
	case "check":
		file := "policy.yaml"
		if len(args) > 1 {
			file = args[1]
		}
		p, err := authz.Load(file)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "%s: ok (policy version %s)\n\n%s", file, p.Version, p.Summary())
		return nil
	case "schema":
		_, err := out.Write(authz.Schema)
		return err
	case "explain":
		fs := flag.NewFlagSet("policy explain", flag.ContinueOnError)
		file := fs.String("policy", "policy.yaml", "policy file")
		user := fs.String("user", "", "user name")
		groups := fs.String("groups", "", "comma-separated groups (SSO users not in policy.yaml)")
		db := fs.String("db", "", "current database")
		catalog := fs.String("catalog", "", "policy test file whose catalog: lists table columns (for SELECT *)")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		if *user == "" || fs.NArg() != 1 {
			return fmt.Errorf("%s", policyUsage)
		}
		p, err := authz.Load(*file)
		if err != nil {
			return err
		}
		id, ok := p.IdentityOf(*user)
		if *groups != "" || !ok {
			if *groups == "" {
				return fmt.Errorf("user %q is not in %s; give -groups for an SSO user", *user, *file)
			}
			id = &authz.Identity{User: *user, Groups: strings.Split(*groups, ","), Source: "explain"}
			if ok {
				id.Account = *user // a listed user keeps their own rules
			}
		}
		sess := authz.Session{DB: *db, MultiStatements: true}
		if *catalog != "" {
			if sess.Catalog, err = authz.LoadCatalog(*catalog); err != nil {
				return err
			}
		}
		fmt.Fprint(out, p.Explain(id, sess, fs.Arg(0)))
		return nil
	case "test":
		fs := flag.NewFlagSet("policy test", flag.ContinueOnError)
		file := fs.String("policy", "policy.yaml", "policy file")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		if fs.NArg() != 1 {
			return fmt.Errorf("%s", policyUsage)
		}
		p, err := authz.Load(*file)
		if err != nil {
			return err
		}
		suite, err := authz.LoadTests(fs.Arg(0))
		if err != nil {
			return err
		}
		failed := 0
		for _, r := range p.RunTests(suite) {
			if r.Problem == "" {
				fmt.Fprintf(out, "ok   %s\n", r.Case.Name)
				continue
			}
			failed++
			fmt.Fprintf(out, "FAIL %s:%d: %s: %s\n", fs.Arg(0), r.Line, r.Case.Name, r.Problem)
		}
		fmt.Fprintf(out, "%d tests, %d failed (policy version %s)\n", len(suite.Tests), failed, p.Version)
		if failed > 0 {
			return errTestsFailed
		}
		return nil
	}
	return fmt.Errorf("unknown policy command %q\n%s", args[0], policyUsage)
}
