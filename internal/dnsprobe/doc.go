// Package dnsprobe sends DNS probes and turns what comes back into reachmon's
// own types (model.Observation, model.Discovery, model.DSCheck). It is the
// only package that sees miekg/dns types.
//
// A probe result is data, not an error: a timeout, a SERVFAIL or a garbage
// packet all come back as an Observation whose Error/ErrorDetail say why.
//
// Transports: UDP (EDNS0 buffer 1232, retried over TCP when TC=1), TCP, DoT
// (RFC 7858) and DoH (RFC 8484, POST). Every query carries EDNS0 with the DO
// bit and an empty NSID option. Every I/O has a deadline: the context's, or
// Options.Timeout from the start of the exchange when the context has none.
// Servers are dialled by IP address only, a DoH URL's host included: no
// name is ever looked up (a monitor of DNS must not depend on the system
// resolver); the TLS server name goes in SNI and, for DoH, the Host header.
//
// Normalised answers have the form "owner CLASS TYPE rdata" (single spaces
// between the header fields, rdata as miekg/dns presents it), the owner
// lower-cased, the TTL left out, RRSIGs left out (Observation.Signed), and the
// list sorted, so two servers' answers compare as plain string slices.
package dnsprobe
