package model

import "testing"

func TestZoneNameSpellings(t *testing.T) {
	for _, tc := range []struct{ in, fqdn, label string }{
		{"example.com", "example.com.", "example.com"},
		{"Example.COM.", "example.com.", "example.com"},
		{".", ".", "."},
		{"", ".", "."},
	} {
		z := ZoneNameOf(tc.in)
		if z.FQDN() != tc.fqdn || z.Label() != tc.label || z.String() != tc.label || z.IsZero() {
			t.Errorf("ZoneNameOf(%q): FQDN %q, Label %q, zero %v; want %q, %q", tc.in, z.FQDN(), z.Label(), z.IsZero(), tc.fqdn, tc.label)
		}
	}
	if ZoneNameOf("a.example") != ZoneNameOf("A.Example.") {
		t.Error("both spellings of one zone are not one ZoneName")
	}
	var zero ZoneName
	if !zero.IsZero() || zero.FQDN() != "" || zero.Label() != "" {
		t.Errorf("zero ZoneName: FQDN %q, Label %q", zero.FQDN(), zero.Label())
	}
}
