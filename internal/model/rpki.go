package model

import (
	"cmp"
	"net/netip"
	"slices"
	"strconv"
	"time"
)

// VRP is one Validated ROA Payload: the prefix, the longest prefix
// length it authorizes and the origin AS it authorizes (AS 0: no origin
// is authorized, RFC 6483 section 4).
type VRP struct {
	Prefix    netip.Prefix `json:"prefix"`
	MaxLength uint8        `json:"max_length"`
	ASN       uint32       `json:"asn"`
}

// String is how reports name a VRP: "ROA 198.51.100.0/24 maxLength 24
// AS64500".
func (v VRP) String() string {
	return "ROA " + v.Prefix.String() + " maxLength " + strconv.Itoa(int(v.MaxLength)) + " AS" + strconv.FormatUint(uint64(v.ASN), 10)
}

// CompareVRP orders VRPs by address, length, maxLength and AS.
func CompareVRP(a, b VRP) int {
	if c := a.Prefix.Addr().Compare(b.Prefix.Addr()); c != 0 {
		return c
	}
	return cmp.Or(cmp.Compare(a.Prefix.Bits(), b.Prefix.Bits()), cmp.Compare(a.MaxLength, b.MaxLength), cmp.Compare(a.ASN, b.ASN))
}

// RPKIState is a route's origin validation state (RFC 6811).
type RPKIState string

const (
	// RPKIValid: a VRP covers the route, authorizes its origin and its
	// length.
	RPKIValid RPKIState = "valid"
	// RPKIInvalid: VRPs cover the route but none matches its origin and
	// length.
	RPKIInvalid RPKIState = "invalid"
	// RPKINotFound: no VRP covers the route ("unknown").
	RPKINotFound RPKIState = "not_found"
)

// RPKIStates lists every state, in documentation order.
var RPKIStates = []RPKIState{RPKIValid, RPKIInvalid, RPKINotFound}

// Words is the state as reports say it: "RPKI-valid", "RPKI-invalid",
// "RPKI-unknown".
func (s RPKIState) Words() string {
	switch s {
	case RPKIValid:
		return "RPKI-valid"
	case RPKIInvalid:
		return "RPKI-invalid"
	}
	return "RPKI-unknown"
}

// Validation is the result of validating one route's origin.
type Validation struct {
	State RPKIState
	// VRPs are the covering VRPs, sorted: for a valid route the ones that
	// match it, otherwise every covering VRP.
	VRPs []VRP
}

// ValidateOrigin validates the route to p originated by origin against
// vrps (RFC 6811 section 2): a VRP covers the route when its prefix
// contains p; it matches when it also authorizes origin (never AS 0, and
// never origin 0: a route whose origin cannot be told, an AS_SET, matches
// nothing) and p's length is at most its maxLength. A route with a
// matching VRP is valid, one covered but not matched invalid, one not
// covered not found.
func ValidateOrigin(p netip.Prefix, origin uint32, vrps []VRP) Validation {
	p = p.Masked()
	var covering, matching []VRP
	for _, v := range vrps {
		if !v.Prefix.IsValid() || v.Prefix.Addr().Is4() != p.Addr().Is4() || v.Prefix.Bits() > p.Bits() || !v.Prefix.Contains(p.Addr()) {
			continue
		}
		covering = append(covering, v)
		if v.ASN != 0 && origin != 0 && v.ASN == origin && p.Bits() <= int(v.MaxLength) {
			matching = append(matching, v)
		}
	}
	switch {
	case len(matching) > 0:
		slices.SortFunc(matching, CompareVRP)
		return Validation{State: RPKIValid, VRPs: slices.Compact(matching)}
	case len(covering) > 0:
		slices.SortFunc(covering, CompareVRP)
		return Validation{State: RPKIInvalid, VRPs: slices.Compact(covering)}
	}
	return Validation{State: RPKINotFound}
}

// RPKIEvent is the set of VRPs that matter to the watched prefixes and
// addresses (every VRP overlapping one), sent whole whenever it changes.
type RPKIEvent struct {
	Time time.Time `json:"time"`
	// Ready is true while some source (an RTR server that finished its
	// first transfer, the VRP file) has data: before that, and after
	// every source lost it, no route is judged by RPKI.
	Ready bool `json:"ready"`
	// VRPs are the relevant VRPs of every source, without repeats,
	// sorted by CompareVRP.
	VRPs []VRP `json:"vrps,omitempty"`
	// Sources names the sources the VRPs come from ("rtr 127.0.0.1:3323",
	// "file /var/lib/rpki-client/json").
	Sources []string `json:"sources,omitempty"`
}

func (e RPKIEvent) EventTime() time.Time { return e.Time }
func (RPKIEvent) isEvent()               {}

// RPKIRoute is the validation state of one watched prefix's route from
// one origin (the reachmon_rpki_route_state metric).
type RPKIRoute struct {
	Prefix netip.Prefix
	Origin uint32
	State  RPKIState
}
