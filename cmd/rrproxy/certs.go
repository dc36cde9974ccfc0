package main

import (
	"flag"
	"fmt"
	"strings"

	"github.com/rrproxy/rrproxy/devcert"
)

type hostList []string

func (h *hostList) String() string     { return strings.Join(*h, ",") }
func (h *hostList) Set(v string) error { *h = append(*h, v); return nil }

func cmdCerts(args []string) error {
	fs := flag.NewFlagSet("certs", flag.ContinueOnError)
	dir := fs.String("dir", "certs", "directory for ca.pem, server.pem and their keys")
	var hosts hostList
	fs.Var(&hosts, "host", "DNS name or IP the server certificate is valid for (repeatable; default localhost, 127.0.0.1, ::1)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	p, err := devcert.Generate(*dir, hosts)
	if err != nil {
		return err
	}
	fmt.Printf("CA certificate:     %s (give this to clients that verify the server)\nserver certificate: %s\nserver key:         %s\n", p.CA, p.Cert, p.Key)
	return nil
}
