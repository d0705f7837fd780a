// Package model holds reachmon's shared domain types. It imports only the
// standard library: every other package speaks these types, and third-party
// types (dns.Msg, GoBGP's api.*, slack.*) stay inside their adapter packages.
package model

import (
	"net/netip"
	"strings"
	"time"
)

// Event is anything a sense (DNS prober, BGP feed) reports to the evaluator.
// The set is closed: only types in this package implement it.
type Event interface {
	// EventTime is when the event was observed.
	EventTime() time.Time
	isEvent()
}

// ServerKind says what role a DNS server plays for a probe.
type ServerKind string

const (
	KindResolver      ServerKind = "resolver"
	KindAuthoritative ServerKind = "authoritative"
)

// Transport is how a DNS query travels.
type Transport string

const (
	TransportUDP Transport = "udp" // UDP with retry over TCP when truncated
	TransportTCP Transport = "tcp"
	TransportDoT Transport = "dot" // DNS over TLS, RFC 7858
	TransportDoH Transport = "doh" // DNS over HTTPS, RFC 8484
)

// Transports lists every supported transport, in documentation order.
var Transports = []Transport{TransportUDP, TransportTCP, TransportDoT, TransportDoH}

// ErrorClass says why a probe produced no usable answer. The empty class
// means a DNS response was received and parsed (whatever its rcode).
type ErrorClass string

const (
	ErrNone        ErrorClass = ""
	ErrTimeout     ErrorClass = "timeout"     // no answer before the deadline
	ErrRefused     ErrorClass = "refused"     // connection refused (ICMP port unreachable, TCP RST)
	ErrUnreachable ErrorClass = "unreachable" // network or host unreachable, no route, EPERM
	ErrMalformed   ErrorClass = "malformed"   // bytes came back but are not a valid DNS response for the query
	ErrTruncated   ErrorClass = "truncated"   // TC=1 and the TCP retry was impossible or failed
	ErrTLS         ErrorClass = "tls"         // TLS handshake or certificate verification failed
	ErrHTTP        ErrorClass = "http"        // DoH server answered with a non-200 status
	ErrNetwork     ErrorClass = "network"     // any other I/O error
)

// Server is one DNS server a probe is sent to.
type Server struct {
	// Name is the configured name (resolvers) or the nameserver host name
	// (authoritative servers); it is a bounded metrics label.
	Name string     `json:"name"`
	Kind ServerKind `json:"kind"`
	// Addr is host:port, or the URL for DoH.
	Addr      string    `json:"address"`
	Transport Transport `json:"transport"`
	// TLSServerName is the name verified in the server's certificate (DoT, DoH).
	TLSServerName string `json:"tls_server_name,omitempty"`
	// Validating is true for resolvers expected to validate DNSSEC.
	Validating bool `json:"validating,omitempty"`
}

// EDE is an Extended DNS Error (RFC 8914).
type EDE struct {
	Code uint16 `json:"code"`
	// Name is the IANA name of the code ("DNSSEC Bogus").
	Name string `json:"name"`
	// Text is the server's EXTRA-TEXT, if any.
	Text string `json:"text,omitempty"`
}

// CDRetry records the second query sent with CD=1 after a validating
// resolver answered SERVFAIL: success there is the signature of a DNSSEC
// failure (Slack, 30 Sep 2021).
type CDRetry struct {
	Rcode     string        `json:"rcode,omitempty"`
	Error     ErrorClass    `json:"error,omitempty"`
	Answers   int           `json:"answers"`
	Succeeded bool          `json:"succeeded"`
	Latency   time.Duration `json:"latency_ns"`
}

// Observation is the result of one probe. A timeout or SERVFAIL is an
// Observation, not an error: errors are for reachmon's own malfunctions.
type Observation struct {
	Time time.Time `json:"time"`
	// Target is the configured zone the probe belongs to ("" for ad-hoc probes).
	Target string `json:"target,omitempty"`
	Server Server `json:"server"`
	Name   string `json:"name"`
	Type   string `json:"type"`

	// Rcode is the response code name ("NOERROR", "SERVFAIL"); empty when
	// no response was received (see Error).
	Rcode string `json:"rcode,omitempty"`
	AA    bool   `json:"aa"`
	AD    bool   `json:"ad"`
	TC    bool   `json:"tc"`
	RA    bool   `json:"ra"`
	// TCPFallback is true when a truncated UDP answer was retried over TCP.
	TCPFallback bool `json:"tcp_fallback,omitempty"`

	EDE  []EDE  `json:"ede,omitempty"`
	NSID string `json:"nsid,omitempty"`

	// Answers is the answer section normalised: TTLs removed, owner names
	// lower-cased, sorted. RRSIGs are kept out (Signed says whether any came).
	Answers []string `json:"answers,omitempty"`
	Signed  bool     `json:"signed,omitempty"`
	// MinTTL is the smallest TTL in the answer section (0 when empty).
	MinTTL uint32 `json:"min_ttl"`
	// SOASerial is set when the SOA was asked of an authoritative server.
	SOASerial *uint32 `json:"soa_serial,omitempty"`
	// RRSIG summarises the signatures in an authoritative server's answer
	// (nil for resolvers and for unsigned answers).
	RRSIG *SigValidity `json:"rrsig,omitempty"`

	Latency time.Duration `json:"latency_ns"`
	Error   ErrorClass    `json:"error,omitempty"`
	// ErrorDetail is a human-readable reason; never a metrics label.
	ErrorDetail string `json:"error_detail,omitempty"`

	// CDRetry is set when a validating resolver answered SERVFAIL and the
	// query was repeated with CD=1.
	CDRetry *CDRetry `json:"cd_retry,omitempty"`
}

func (o Observation) EventTime() time.Time { return o.Time }
func (Observation) isEvent()               {}

// Answered reports whether a DNS response was received and parsed.
func (o Observation) Answered() bool { return o.Error == ErrNone && o.Rcode != "" }

// Negative answers: the name does not exist (NXDOMAIN), or it has no
// record of the asked type and no CNAME or DNAME to follow (NODATA).
const (
	NegativeNXDomain = "NXDOMAIN"
	NegativeNoData   = "NODATA"
)

// Negative returns NegativeNXDomain or NegativeNoData when the observation
// is an answer saying its name or type does not exist, "" otherwise. NODATA
// does not count for types that exist only at a zone apex (SOA, NS,
// DNSKEY, DS) asked of another name than the Target zone, nor for the DS
// of the apex asked of the zone's own servers (the DS lives at the
// parent): there NOERROR says the name exists, which is all such a probe
// can tell.
func (o Observation) Negative() string {
	if !o.Answered() {
		return ""
	}
	switch o.Rcode {
	case "NXDOMAIN":
		return NegativeNXDomain
	case "NOERROR":
	default:
		return ""
	}
	for _, a := range o.Answers {
		f := strings.SplitN(a, " ", 4)
		if len(f) >= 3 && (strings.EqualFold(f[2], o.Type) || f[2] == "CNAME" || f[2] == "DNAME") {
			return ""
		}
	}
	apex := o.Target != "" && ZoneNameOf(o.Target) == ZoneNameOf(o.Name)
	switch strings.ToUpper(o.Type) {
	case "SOA", "NS", "DNSKEY":
		if !apex {
			return ""
		}
	case "DS":
		if !apex || o.Server.Kind == KindAuthoritative {
			return ""
		}
	}
	return NegativeNoData
}

// DSRecord is one DS record at the parent and what it matched.
type DSRecord struct {
	KeyTag     uint16 `json:"key_tag"`
	Algorithm  uint8  `json:"algorithm"`
	DigestType uint8  `json:"digest_type"`
	Digest     string `json:"digest"`
	// Matched is true when a DNSKEY served by the zone has this key tag and
	// algorithm and hashes to this digest.
	Matched bool `json:"matched"`
	// Problem explains a non-match: "no DNSKEY with key tag 296",
	// "algorithm differs", "digest differs", "unsupported digest type".
	Problem string `json:"problem,omitempty"`
}

// DNSKEYInfo describes one DNSKEY served by the zone.
type DNSKEYInfo struct {
	KeyTag    uint16 `json:"key_tag"`
	Algorithm uint8  `json:"algorithm"`
	Flags     uint16 `json:"flags"`
}

// DSStatus is the verdict of a DS-vs-DNSKEY check.
type DSStatus string

const (
	DSOK         DSStatus = "ok"         // at least one DS matches a served DNSKEY
	DSMismatch   DSStatus = "mismatch"   // DS present, no DS matches any served DNSKEY
	DSNoDNSKEY   DSStatus = "no-dnskey"  // DS present, the zone serves no DNSKEY
	DSUnsigned   DSStatus = "unsigned"   // no DS at the parent (insecure delegation)
	DSIncomplete DSStatus = "incomplete" // the check could not get DS or DNSKEY (see Detail)
)

// DSCheck compares the DS set at the parent with the DNSKEY set the zone's
// authoritative servers serve.
type DSCheck struct {
	Time    time.Time    `json:"time"`
	Zone    string       `json:"zone"`
	Status  DSStatus     `json:"status"`
	DS      []DSRecord   `json:"ds,omitempty"`
	DNSKEYs []DNSKEYInfo `json:"dnskeys,omitempty"`
	// Detail is one sentence naming the problem, e.g. "DS key tag 296
	// (algorithm 13) has no matching DNSKEY; the zone serves key tags 4711".
	Detail string `json:"detail,omitempty"`
	// DNSKEYRRSIG summarises the signatures over the DNSKEY set over every
	// authoritative server that answered (Server names the one whose
	// signature expires first); nil when none was signed.
	DNSKEYRRSIG *SigValidity `json:"dnskey_rrsig,omitempty"`
}

// SigValidity summarises the RRSIGs over the data of one answer.
type SigValidity struct {
	// Expiration is the earliest RRSIG expiration, Inception the latest
	// RRSIG inception (UTC, read in RFC 1982 serial arithmetic around the
	// time of the answer).
	Expiration time.Time `json:"expiration"`
	Inception  time.Time `json:"inception"`
	// TTL is the longest TTL of the signed data: the record TTLs and the
	// RRSIGs' original TTLs, in seconds. A validating resolver may cache
	// an answer this long.
	TTL uint32 `json:"ttl"`
	// Server is the server that served the earliest expiration, when the
	// summary spans several servers (DSCheck); empty in an Observation.
	Server string `json:"server,omitempty"`
}

func (c DSCheck) EventTime() time.Time { return c.Time }
func (DSCheck) isEvent()               {}

// AuthSource says where an authoritative server address came from.
type AuthSource string

const (
	SourceConfig   AuthSource = "config"   // explicit host:port in the config
	SourceResolver AuthSource = "resolver" // NS and A/AAAA asked of a resolver
	SourceParent   AuthSource = "parent"   // delegation and glue from the parent's servers
)

// AuthServer is one address of one authoritative nameserver of a zone.
type AuthServer struct {
	// Host is the nameserver's name ("a.ns.facebook.com"), or the address
	// when configured explicitly.
	Host string         `json:"host"`
	Addr netip.AddrPort `json:"address"`
	// Sources lists every way the address was learnt.
	Sources []AuthSource `json:"sources"`
}

// Discovery is the current authoritative server set of a zone. Its
// addresses are the nameserver addresses the BGP feed watches.
type Discovery struct {
	Time    time.Time    `json:"time"`
	Zone    string       `json:"zone"`
	NS      []string     `json:"ns,omitempty"`
	Servers []AuthServer `json:"servers"`
	// TTL is how long the set is good for (the smallest NS/A/AAAA TTL seen,
	// bounded by the configured refresh limits).
	TTL time.Duration `json:"ttl_ns"`
	// Error is set when discovery failed; Servers then holds the previous set.
	Error string `json:"error,omitempty"`
	// ParentNS is the NS set the parent zone's servers delegate to (sorted;
	// empty when the parent could not be asked or does not delegate).
	ParentNS []string `json:"parent_ns,omitempty"`
	// ApexNS is the NS set the zone itself serves at its apex, as the
	// first of its authoritative servers to answer authoritatively said it
	// (sorted; empty when none did).
	ApexNS []string `json:"apex_ns,omitempty"`
	// Delegation is what the parent's servers said of the zone ("" when
	// they could not be asked: the root, or no parent server answered).
	Delegation DelegationStatus `json:"delegation,omitempty"`
	// DelegationDetail names the parent server that answered and what it
	// said ("a.nic.test. (198.18.0.1): NXDOMAIN").
	DelegationDetail string `json:"delegation_detail,omitempty"`
}

// DelegationStatus is the parent's answer about a zone's delegation.
type DelegationStatus string

const (
	DelegationOK       DelegationStatus = "ok"       // the parent delegates the zone (NS set in a referral or answer)
	DelegationNXDomain DelegationStatus = "nxdomain" // the parent says the name does not exist
	DelegationNoNS     DelegationStatus = "no-ns"    // the name exists at the parent, without NS for the zone
)

func (d Discovery) EventTime() time.Time { return d.Time }
func (Discovery) isEvent()               {}

// Addrs returns the distinct server addresses (without ports).
func (d Discovery) Addrs() []netip.Addr {
	seen := make(map[netip.Addr]bool, len(d.Servers))
	var out []netip.Addr
	for _, s := range d.Servers {
		a := s.Addr.Addr()
		if !seen[a] {
			seen[a] = true
			out = append(out, a)
		}
	}
	return out
}

// WatchedPrefix is a prefix the user asked to watch in BGP.
type WatchedPrefix struct {
	Prefix netip.Prefix `json:"prefix"`
	// Origins are the expected origin ASNs; empty means any origin is fine.
	Origins     []uint32 `json:"origins,omitempty"`
	Description string   `json:"description,omitempty"`
}
