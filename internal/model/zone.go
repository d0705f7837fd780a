package model

import "strings"

// ZoneName is a DNS zone's name in one canonical form: lower case and
// absolute. A zone has two spellings and each use asks for its own rather
// than trimming or adding the dot itself:
//   - FQDN ("example.com.", "." for the root) is what DNS speaks: query
//     names, discovery, DS checks, the BGP watch list, the nameservers API;
//   - Label ("example.com", "." for the root) is what people and
//     Prometheus see: observation targets, metrics labels, incident
//     subjects, log lines.
//
// The zero ZoneName is no zone: both spellings are "".
type ZoneName struct{ fqdn string }

// ZoneNameOf normalises name, in either spelling and any case ("" and "."
// are the root). It does not check that name is a valid domain name: the
// configuration does that once, at load (config.ParseZoneName).
func ZoneNameOf(name string) ZoneName {
	return ZoneName{fqdn: strings.ToLower(strings.TrimSuffix(name, ".")) + "."}
}

// FQDN is the absolute spelling: "example.com.", or "." for the root.
func (z ZoneName) FQDN() string { return z.fqdn }

// Label is the spelling people see: "example.com", or "." for the root.
func (z ZoneName) Label() string {
	if z.fqdn == "." {
		return z.fqdn
	}
	return strings.TrimSuffix(z.fqdn, ".")
}

// String is the Label.
func (z ZoneName) String() string { return z.Label() }

// IsZero reports whether z is the zero ZoneName (no zone).
func (z ZoneName) IsZero() bool { return z.fqdn == "" }
