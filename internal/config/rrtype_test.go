package config

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// RecordType takes every type miekg/dns knows, in any case and in the
// RFC 3597 form, and refuses what cannot be asked for, saying why.
func TestRecordType(t *testing.T) {
	for _, tc := range []struct {
		in, name string
		code     uint16
	}{
		{"A", "A", 1}, {"mx", "MX", 15}, {"TLSA", "TLSA", 52}, {"sshfp", "SSHFP", 44},
		{"type65", "HTTPS", 65}, {"TYPE65534", "TYPE65534", 65534}, {"ANY", "ANY", 255}, {"NSAP-PTR", "NSAP-PTR", 23},
	} {
		name, code, err := RecordType(tc.in)
		if err != nil || name != tc.name || code != tc.code {
			t.Errorf("RecordType(%q) = %q %d %v, want %q %d", tc.in, name, code, err, tc.name, tc.code)
		}
	}
	for in, want := range map[string]string{
		"AXFR":      `"AXFR" is a zone transfer`,
		"opt":       `"opt" is the EDNS pseudo-record`,
		"TYPE41":    `"TYPE41" is the EDNS pseudo-record`,
		"MXX":       `"MXX" is not a DNS record type`,
		"TYPE":      `"TYPE" is not a DNS record type`,
		"TYPE1x":    `"TYPE1x" is not a DNS record type`,
		"TYPE70000": `"TYPE70000" is not a DNS record type`,
	} {
		_, _, err := RecordType(in)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("RecordType(%q) = %v, want an error containing %q", in, err, want)
		}
	}
	if _, _, err := RecordType("IXFR"); !errors.Is(err, ErrNotAskable) {
		t.Errorf("IXFR: %v does not wrap ErrNotAskable", err)
	}
	all := RecordTypes()
	if !slices.Contains(all, "TLSA") || !slices.Contains(all, "SSHFP") || slices.Contains(all, "AXFR") || !slices.IsSorted(all) {
		t.Errorf("RecordTypes() = %q", all)
	}
}

// A zone may ask for any askable type, in any case; the plan holds each
// once, canonical.
func TestZoneTypesAnyKnownType(t *testing.T) {
	plan, err := Parse("t.toml", []byte(`
[[resolver]]
name = "r"
address = "127.0.0.1"
[[zone]]
name = "example.com"
types = ["tlsa", "SSHFP", "TLSA", "type65"]
`))
	if err != nil {
		t.Fatal(err)
	}
	if got := plan.Zones[0].Types; !reflect.DeepEqual(got, []string{"TLSA", "SSHFP", "HTTPS"}) {
		t.Errorf("plan types = %q", got)
	}
}
