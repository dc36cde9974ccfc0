package auditlog

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"
)

// Invalid UTF-8 is not in the random strings: encoding/json replaces each
// invalid byte with U+FFFD, the audit log each run of them
// (TestInvalidUTF8 pins that down).

// TestEncodeMembersMatchesJSON fills every member of Event (by
// reflection, so a member added later is covered) with random values,
// some left empty, and checks that encodeMembers writes exactly the
// canonical form of what encoding/json makes of the same event.
func TestEncodeMembersMatchesJSON(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	pieces := []string{"", "a", "SELECT * FROM study.subjects WHERE arm = 'B'", `"`, `\`, "\x00", "\n\t\r\b\f", "\x1f",
		"é", "日本", "\u2028", "😀", "<&>"}
	randString := func() string {
		var b []byte
		for range r.IntN(4) {
			b = append(b, pieces[r.IntN(len(pieces))]...)
		}
		return string(b)
	}
	for i := range 5000 {
		var ev Event
		v := reflect.ValueOf(&ev).Elem()
		for f := range v.NumField() {
			fv := v.Field(f)
			name := v.Type().Field(f).Name
			if name == "Time" || name == "Seq" || name == "Origin" || r.IntN(3) == 0 {
				continue // chain members are not encodeMembers' job; some members empty
			}
			switch fv.Kind() {
			case reflect.String:
				fv.SetString(randString())
			case reflect.Int, reflect.Int64:
				fv.SetInt(r.Int64N(1<<53) - 1<<52)
			case reflect.Uint16:
				fv.SetUint(uint64(r.IntN(1 << 16)))
			case reflect.Uint32:
				fv.SetUint(uint64(r.Uint32()))
			case reflect.Uint64:
				fv.SetUint(r.Uint64N(1 << 53))
			case reflect.Slice:
				n := r.IntN(3)
				s := make([]string, n)
				for j := range s {
					s[j] = randString()
				}
				fv.Set(reflect.ValueOf(s))
			default:
				t.Fatalf("Event.%s has kind %s, which this test (and encodeMembers) does not know", name, fv.Kind())
			}
		}
		pr := preparedPool.Get().(*prepared)
		pr.members = pr.members[:0]
		if err := encodeMembers(pr, &ev); err != nil {
			t.Fatal(err)
		}
		got, _ := join(nil, pr.members, pr.origin, nil, numMembers, 0)
		pr.release()

		// The same event with its origin members encoded beforehand
		// (and its own values for them ignored) is the same record.
		o, err := NewOrigin(&ev)
		if err != nil {
			t.Fatal(err)
		}
		withOrigin := Event{Origin: o, User: "ignored", SourcePort: 1, Groups: []string{"ignored"}}
		ov, wv := reflect.ValueOf(&ev).Elem(), reflect.ValueOf(&withOrigin).Elem()
		for f := range ov.NumField() {
			switch v.Type().Field(f).Name {
			case "User", "Source", "SourceIP", "SourcePort", "IDSource", "Groups", "Subject", "Credential",
				"Cipher", "Host", "SessionID", "TLS", "Client", "Via", "Origin":
			default:
				wv.Field(f).Set(ov.Field(f))
			}
		}
		pr = preparedPool.Get().(*prepared)
		pr.members = pr.members[:0]
		if err := encodeMembers(pr, &withOrigin); err != nil {
			t.Fatal(err)
		}
		gotOrigin, _ := join(nil, pr.members, pr.origin, nil, numMembers, 0)
		pr.release()
		if string(gotOrigin) != string(got) {
			t.Fatalf("with Origin:\n%s\nwithout:\n%s", gotOrigin, got)
		}

		js, err := json.Marshal(&ev)
		if err != nil {
			t.Fatal(err)
		}
		rec, err := decodeLine(js)
		if err != nil {
			t.Fatal(err)
		}
		delete(rec, "@timestamp")
		delete(rec, "event.sequence")
		want, err := canonical(nil, rec)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("event %d:\nencodeMembers: %s\njson+canonical: %s", i, got, want)
		}
	}
}

func TestInvalidUTF8(t *testing.T) {
	got := string(appendString(nil, "a\xff\xfeb\xc3"))
	if want := "\"a\uFFFDb\uFFFD\""; got != want {
		t.Fatalf("appendString: %q, want %q", got, want)
	}
}

// TestMemberNamesSorted checks the rank table: names in canonical order
// (RFC 8785 compares UTF-16 code units; for these ASCII names that is
// byte order), no name twice, and every member of Event, and every chain
// member, has a rank.
func TestMemberNamesSorted(t *testing.T) {
	for r := 1; r < int(numMembers); r++ {
		if memberNames[r-1] >= memberNames[r] {
			t.Errorf("rank %d %q does not sort after rank %d %q", r, memberNames[r], r-1, memberNames[r-1])
		}
	}
	has := map[string]bool{}
	for _, n := range memberNames {
		has[n] = true
	}
	ty := reflect.TypeOf(Event{})
	for f := range ty.NumField() {
		tag := ty.Field(f).Tag.Get("json")
		name, _, _ := strings.Cut(tag, ",")
		if name == "" || name == "-" {
			continue
		}
		if !has[name] {
			t.Errorf("Event.%s (%q) has no rank", ty.Field(f).Name, name)
		}
	}
	for _, n := range []string{"@timestamp", "event.sequence", "rrproxy.chain.prev", "rrproxy.chain.hash"} {
		if !has[n] {
			t.Errorf("chain member %q has no rank", n)
		}
	}
}

// TestOriginJoinsOnlyWhatNothingSplits checks NewOrigin's joined
// members: the run source.address to user_agent.name is one member, and
// host.name, credential_id, identity_source, session_id and via, which
// other members sort between, stay apart.
func TestOriginJoinsOnlyWhatNothingSplits(t *testing.T) {
	o, err := NewOrigin(&Event{User: "alice", Source: "127.0.0.1:5", SourceIP: "127.0.0.1", SourcePort: 5,
		IDSource: "local", Groups: []string{"g"}, Subject: "s", Credential: "c", Cipher: "x", Host: "h",
		SessionID: 7, TLS: "TLS 1.3", Client: "mysql", Via: "10.0.1.7:40000"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range o.members {
		got = append(got, memberNames[m.rank])
	}
	want := []string{"host.name", "rrproxy.credential_id", "rrproxy.identity_source", "rrproxy.session_id", "rrproxy.via", "source.address"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("origin members %v, want %v", got, want)
	}
	if last := string(o.members[5].enc); !strings.HasPrefix(last, `"source.address":`) || !strings.HasSuffix(last, `"user_agent.name":"mysql"`) {
		t.Fatalf("joined member %s", last)
	}
}

// TestAppendStringMatchesReference checks the one-pass appendString
// against the definition it implements: invalid UTF-8 runs replaced as
// bytes.ToValidUTF8 does, then encoding/json's escapes narrowed to JCS's
// (", \ and control characters only).
func TestAppendStringMatchesReference(t *testing.T) {
	reference := func(s string) string {
		s = string(bytes.ToValidUTF8([]byte(s), []byte("\uFFFD")))
		var b strings.Builder
		b.WriteByte('"')
		for _, r := range s {
			switch {
			case r == '"':
				b.WriteString(`\"`)
			case r == '\\':
				b.WriteString(`\\`)
			case r == '\b':
				b.WriteString(`\b`)
			case r == '\t':
				b.WriteString(`\t`)
			case r == '\n':
				b.WriteString(`\n`)
			case r == '\f':
				b.WriteString(`\f`)
			case r == '\r':
				b.WriteString(`\r`)
			case r < 0x20:
				fmt.Fprintf(&b, `\u%04x`, r)
			default:
				b.WriteRune(r)
			}
		}
		b.WriteByte('"')
		return b.String()
	}
	r := rand.New(rand.NewPCG(3, 4))
	pieces := []string{"a", "SELECT 1", `"`, `\`, "\x00", "\x1f", "\x7f", "é", "日本", "😀", "\uFFFD",
		"\xff", "\xc3", "\xe6\x97", "\xf0\x9f\x98", "\xed\xa0\x80", "\xc0\xaf", "\x80\x80",
		// Runs longer than the eight bytes appendString skips at once,
		// so that every special byte above lands at every offset of one.
		"SELECT visit_name FROM visits WHERE visit_id = ", "abcdefg", " !#$%&'()*+,-./[]^_`{|}~\x7f"}
	for range 50000 {
		var b []byte
		for range r.IntN(10) {
			b = append(b, pieces[r.IntN(len(pieces))]...)
		}
		s := string(b)
		if got, want := string(appendString(nil, s)), reference(s); got != want {
			t.Fatalf("appendString(%q) = %s, want %s", s, got, want)
		}
	}
}

// TestStampCacheMatchesFormat checks the cached record time against the
// time package's formatting, within one second and across seconds,
// minutes, days and years.
func TestStampCacheMatchesFormat(t *testing.T) {
	var c stampCache
	base := time.Date(2026, 12, 31, 23, 59, 58, 999_000_000, time.UTC)
	r := rand.New(rand.NewPCG(5, 6))
	at := base
	for range 10000 {
		at = at.Add(time.Duration(r.Int64N(int64(300 * time.Millisecond))))
		got := string(c.append(nil, at))
		if want := at.UTC().Format("2006-01-02T15:04:05.000000Z"); got != want {
			t.Fatalf("%v: %s, want %s", at, got, want)
		}
	}
	// Not UTC, and before 1970.
	for _, tm := range []time.Time{time.Date(1969, 12, 31, 23, 59, 59, 123_456_789, time.FixedZone("x", 3600)),
		time.Date(1, 1, 1, 0, 0, 0, 1000, time.UTC), time.Date(9999, 12, 31, 23, 59, 59, 999_999_999, time.UTC)} {
		if got, want := string(c.append(nil, tm)), tm.UTC().Format("2006-01-02T15:04:05.000000Z"); got != want {
			t.Fatalf("%v: %s, want %s", tm, got, want)
		}
	}
}

// BenchmarkAppendString encodes a typical point select's text, the
// longest string of most records.
//
//	go test -run '^$' -bench AppendString ./auditlog
func BenchmarkAppendString(b *testing.B) {
	s := "SELECT visit_name, visit_date, subject_id FROM study.visits WHERE visit_id = 12345"
	buf := make([]byte, 0, 256)
	b.SetBytes(int64(len(s)))
	for b.Loop() {
		buf = appendString(buf[:0], s)
	}
}
