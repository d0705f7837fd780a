package model

import (
	"net/netip"
	"slices"
	"testing"
)

func TestValidateOrigin(t *testing.T) {
	roa := VRP{Prefix: netip.MustParsePrefix("198.51.100.0/24"), MaxLength: 24, ASN: 64500}
	wide := VRP{Prefix: netip.MustParsePrefix("198.51.100.0/22"), MaxLength: 25, ASN: 64501}
	as0 := VRP{Prefix: netip.MustParsePrefix("203.0.113.0/24"), MaxLength: 32, ASN: 0}
	v6 := VRP{Prefix: netip.MustParsePrefix("2001:db8::/32"), MaxLength: 48, ASN: 64500}
	vrps := []VRP{roa, wide, as0, v6}
	for _, tc := range []struct {
		name   string
		prefix string
		origin uint32
		state  RPKIState
		vrps   []VRP
	}{
		{"valid", "198.51.100.0/24", 64500, RPKIValid, []VRP{roa}},
		{"valid by a less-specific ROA", "198.51.101.0/25", 64501, RPKIValid, []VRP{wide}},
		{"invalid by origin", "198.51.100.0/24", 64511, RPKIInvalid, []VRP{wide, roa}},
		{"invalid by maxLength", "198.51.100.0/25", 64500, RPKIInvalid, []VRP{wide, roa}},
		{"valid /25 of the wide ROA", "198.51.100.128/25", 64501, RPKIValid, []VRP{wide}},
		{"invalid beyond every maxLength", "198.51.100.0/26", 64501, RPKIInvalid, []VRP{wide, roa}},
		{"not found", "192.0.2.0/24", 64500, RPKINotFound, nil},
		{"not found: a ROA inside the route does not cover it", "198.51.0.0/16", 64500, RPKINotFound, nil},
		{"AS0 ROA makes every origin invalid", "203.0.113.0/24", 64500, RPKIInvalid, []VRP{as0}},
		{"AS0 origin matches nothing, not even an AS0 ROA", "203.0.113.0/25", 0, RPKIInvalid, []VRP{as0}},
		{"IPv6 valid", "2001:db8:1::/48", 64500, RPKIValid, []VRP{v6}},
		{"IPv6 invalid by maxLength", "2001:db8:1::/64", 64500, RPKIInvalid, []VRP{v6}},
		{"IPv4 ROA does not cover IPv6", "::ffff:198.51.100.0/120", 64500, RPKINotFound, nil},
		{"unmasked prefix is masked", "198.51.100.7/24", 64500, RPKIValid, []VRP{roa}},
	} {
		got := ValidateOrigin(netip.MustParsePrefix(tc.prefix), tc.origin, vrps)
		if got.State != tc.state || !slices.Equal(got.VRPs, tc.vrps) {
			t.Errorf("%s: %s from AS%d = %s %v, want %s %v", tc.name, tc.prefix, tc.origin, got.State, got.VRPs, tc.state, tc.vrps)
		}
	}
	if s := roa.String(); s != "ROA 198.51.100.0/24 maxLength 24 AS64500" {
		t.Errorf("String = %q", s)
	}
	if RPKIInvalid.Words() != "RPKI-invalid" || RPKINotFound.Words() != "RPKI-unknown" || RPKIValid.Words() != "RPKI-valid" {
		t.Error("Words")
	}
}
