package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"

	"github.com/rrproxy/rrproxy/authz"
)

// cmdPasswd reads a password without echo on a terminal (or one line from
// a pipe, for scripts) and prints the policy.yaml line.
func cmdPasswd(args []string, in io.Reader, out io.Writer) error {
	fs := flag.NewFlagSet("passwd", flag.ContinueOnError)
	native := fs.Bool("native", false, "also print a mysql_native_password hash (weaker; only for clients that need it)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	pw, err := readPassword(in)
	if err != nil {
		return err
	}
	if len(pw) < 12 {
		return errors.New("password too short: use at least 12 characters")
	}
	h, err := authz.HashPassword(pw)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "password: %q\n", h)
	if *native {
		fmt.Fprintf(out, "native_password: %q\n", authz.NativeHash(pw))
	}
	return nil
}

func readPassword(in io.Reader) (string, error) {
	if f, ok := in.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(os.Stderr, "Password: ")
		a, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(os.Stderr)
		if err != nil {
			return "", err
		}
		fmt.Fprint(os.Stderr, "Again: ")
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(os.Stderr)
		if err != nil {
			return "", err
		}
		if string(a) != string(b) {
			return "", errors.New("passwords do not match")
		}
		return string(a), nil
	}
	line, err := bufio.NewReader(in).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	return strings.TrimRight(line, "\r\n"), nil
}
