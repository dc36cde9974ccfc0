package auditlog

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"testing"
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
		got, _ := join(nil, pr.members, nil, "")
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
				"Cipher", "Host", "SessionID", "TLS", "Client", "Origin":
			default:
				wv.Field(f).Set(ov.Field(f))
			}
		}
		pr = preparedPool.Get().(*prepared)
		pr.members = pr.members[:0]
		if err := encodeMembers(pr, &withOrigin); err != nil {
			t.Fatal(err)
		}
		gotOrigin, _ := join(nil, pr.members, nil, "")
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
