package sandbox

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"

	vtlog "github.com/dolthub/vitess/go/vt/log"
	"github.com/sirupsen/logrus"
)

// GMS logs through the process-wide logrus standard logger (every query at
// info level) and its vitess fork through the standard library's log package
// (every connection error). Both are globals, so they are redirected once per
// process to whichever Upstream started last; in practice the demo starts
// exactly one.
var (
	logTarget   atomic.Pointer[slog.Logger]
	installLogs sync.Once
)

func routeLogs(log *slog.Logger) {
	logTarget.Store(log)
	installLogs.Do(func() {
		std := logrus.StandardLogger()
		std.SetOutput(io.Discard) // the hook below is the only output
		std.SetLevel(logrus.WarnLevel)
		std.AddHook(logrusHook{})

		// Vitess logs a failed login as a warning, which is worth seeing:
		// the proxy's service account should never fail. It logs per-
		// connection I/O failures (a client hanging up, Close ending
		// sessions) as errors although the client already knows; those
		// are debug detail, except a recovered handler panic.
		vtlog.Info = func(...any) {}
		vtlog.Infof = func(string, ...any) {}
		vtlog.Warning = func(v ...any) { emit(slog.LevelWarn, fmt.Sprint(v...), nil) }
		vtlog.Warningf = func(f string, v ...any) { emit(slog.LevelWarn, fmt.Sprintf(f, v...), nil) }
		vtlog.Error = func(v ...any) { vitessError(fmt.Sprint(v...)) }
		vtlog.Errorf = func(f string, v ...any) { vitessError(fmt.Sprintf(f, v...)) }
	})
}

func vitessError(msg string) {
	level := slog.LevelDebug
	if strings.Contains(msg, "panic") {
		level = slog.LevelError
	}
	emit(level, msg, nil)
}

func emit(level slog.Level, msg string, attrs []slog.Attr) {
	log := logTarget.Load()
	if log == nil {
		return
	}
	log.LogAttrs(context.Background(), level, msg, append(attrs, slog.String("component", "sandbox"))...)
}

// logrusHook forwards warnings and errors to slog. Fields are kept except the
// query text: SQL goes to the audit log, not the process log.
type logrusHook struct{}

func (logrusHook) Levels() []logrus.Level {
	return []logrus.Level{logrus.PanicLevel, logrus.FatalLevel, logrus.ErrorLevel, logrus.WarnLevel}
}

func (logrusHook) Fire(e *logrus.Entry) error {
	level := slog.LevelWarn
	if e.Level <= logrus.ErrorLevel {
		level = slog.LevelError
	}
	attrs := make([]slog.Attr, 0, len(e.Data))
	for k, v := range e.Data {
		if k == "query" {
			continue
		}
		if err, ok := v.(error); ok {
			// GMS errors print their stack trace after a blank line.
			msg, _, _ := strings.Cut(err.Error(), "\n")
			attrs = append(attrs, slog.String(k, msg))
			continue
		}
		attrs = append(attrs, slog.Any(k, v))
	}
	emit(level, e.Message, attrs)
	return nil
}
