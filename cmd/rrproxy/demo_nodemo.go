//go:build nodemo

package main

import (
	"context"
	"errors"
)

// cmdDemo in a production build (-tags nodemo, as the Dockerfile builds
// it): the demo's embedded database (go-mysql-server, whose regular
// expression engine compiles a WebAssembly module when the process
// starts, about 45 MB of memory) is left out of the binary.
func cmdDemo(context.Context, []string) error {
	return errors.New("this rrproxy was built with -tags nodemo, without the demo database; run the demo from a source tree: go run ./cmd/rrproxy demo")
}
