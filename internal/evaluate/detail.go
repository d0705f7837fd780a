package evaluate

import (
	"cmp"
	"math"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/reachmon/reachmon/internal/model"
)

// The zone detail (/api/v1/status?zone=NAME): one zone's servers with
// the last result of each query, its discovery, DS check, signatures,
// lame servers and SOA serials. Most of it is what the evaluator keeps
// for its rules anyway; what it adds is the last result of each query
// of each server (queryResult, 56 bytes with the run the rules count),
// kept compact because there is one per zone x server x query: strings that take few values (rcode,
// error class, record type, why it failed) are a byte indexing the
// evaluator's own table of them, times are Unix nanoseconds, the latency
// is in microseconds.

// ZoneSchema names the version of the /api/v1/status?zone= document.
const ZoneSchema = "reachmon.zone/v1"

// ZoneDetail is one zone's detail: what the status document says of it,
// and what every server probing it last answered.
type ZoneDetail struct {
	Schema      string    `json:"schema"`
	Time        time.Time `json:"time"`
	Vantage     string    `json:"vantage"`
	VantageDown bool      `json:"vantage_down"`
	Zone        string    `json:"zone"`
	// Health, Kind, Incident, Failing and Control are the zone's row of
	// /api/v1/status (ZoneStatus).
	Health   string             `json:"health"`
	Kind     model.IncidentKind `json:"kind,omitempty"`
	Incident string             `json:"incident,omitempty"`
	Failing  []string           `json:"failing,omitempty"`
	Control  bool               `json:"control,omitempty"`
	// Open is every open incident about the zone (its outage, answer
	// mismatch, signature expiry, delegation).
	Open []ZoneIncident `json:"open"`
	// Servers are the resolvers, then the authoritative servers, probing
	// the zone, by name.
	Servers   []ServerDetail   `json:"servers"`
	Discovery *DiscoveryDetail `json:"discovery,omitempty"`
	// DSCheck is the last DS-vs-DNSKEY check (nil before the first).
	DSCheck *DSCheckDetail `json:"ds_check,omitempty"`
	// SignatureExpiry is the earliest RRSIG expiration the zone's
	// authoritative servers serve (nil: nothing signed seen).
	SignatureExpiry *SignatureExpiry `json:"signature_expiry,omitempty"`
	// LameServers answer, but not authoritatively, while another server
	// of the zone answers well (the delegation finding's lame servers).
	LameServers []string `json:"lame_servers"`
	// Serials are the SOA serials the authoritative servers served last
	// (nil before the first).
	Serials *SerialDetail `json:"soa_serials,omitempty"`
}

// ZoneIncident is an open incident about the zone.
type ZoneIncident struct {
	ID       string             `json:"id"`
	Kind     model.IncidentKind `json:"kind"`
	Severity model.Severity     `json:"severity"`
	Opened   time.Time          `json:"opened"`
}

// ServerDetail is one server probing the zone.
type ServerDetail struct {
	Name string           `json:"name"`
	Kind model.ServerKind `json:"kind"`
	// Address is host:port, or the DoH URL, as the last probe used it.
	Address    string          `json:"address,omitempty"`
	Transport  model.Transport `json:"transport,omitempty"`
	Validating bool            `json:"validating,omitempty"`
	// Health is the server's verdict for the zone after open_rounds and
	// resolve_rounds: ok, failing, or unknown while undecided.
	Health string `json:"health"`
	// FailingSince is when its current run of failures began.
	FailingSince time.Time `json:"failing_since,omitzero"`
	Lame         bool      `json:"lame,omitempty"`
	// Route is the most-specific route covering the server's address
	// while healthy; RouteWithdrawn while it is withdrawn.
	Route          netip.Prefix `json:"route,omitzero"`
	RouteWithdrawn bool         `json:"route_withdrawn,omitempty"`
	// Results is the last result of each query (name, type), in name
	// then type order.
	Results []ProbeResult `json:"results"`
}

// ProbeResult is the last result of one query of one server.
type ProbeResult struct {
	Name string    `json:"name"`
	Type string    `json:"type"`
	Time time.Time `json:"time"`
	// Success is the probe's verdict: an answer, NOERROR (or an expected
	// NXDOMAIN), not negative, and authoritative from an authoritative
	// server. Failure says why not ("timeout", "SERVFAIL", "lame (AA=0)",
	// "NODATA").
	Success bool   `json:"success"`
	Failure string `json:"failure,omitempty"`
	// Rcode is the response code ("" when no response came: see Error).
	Rcode     string           `json:"rcode,omitempty"`
	Error     model.ErrorClass `json:"error,omitempty"`
	LatencyMS float64          `json:"latency_ms"`
	AA        bool             `json:"aa"`
	// EDE are the Extended DNS Error codes of the answer (the first
	// three).
	EDE []uint16 `json:"ede,omitempty"`
	// CDRetry is the outcome of the CD=1 retry after a validating
	// resolver's SERVFAIL: "succeeded" (a DNSSEC failure) or "failed".
	CDRetry string `json:"cd_retry,omitempty"`
	// SOASerial is the serial an authoritative server served (SOA).
	SOASerial *uint32 `json:"soa_serial,omitempty"`
	// Probes counts the results of this query the evaluator has taken
	// since the server began to probe the zone (one per probe, answered
	// or not): with Time, it shows that no round was missed.
	Probes uint32 `json:"probes"`
}

// DiscoveryDetail is the zone's authoritative server set.
type DiscoveryDetail struct {
	// Time is when the last discovery ran (zero: the servers are
	// configured and none ran); Error is why it failed, if it did (the
	// previous set is kept).
	Time  time.Time `json:"time,omitzero"`
	Error string    `json:"error,omitempty"`
	// ParentNS and ApexNS are the NS sets of the parent's delegation and
	// of the zone's apex, as the last discovery found them.
	ParentNS []string `json:"parent_ns,omitempty"`
	ApexNS   []string `json:"apex_ns,omitempty"`
	// Delegation is what the parent's servers last said of the zone.
	Delegation       model.DelegationStatus `json:"delegation,omitempty"`
	DelegationDetail string                 `json:"delegation_detail,omitempty"`
	// Nameservers are the addresses probed, by host then address.
	Nameservers []NameserverDetail `json:"nameservers"`
}

// NameserverDetail is one nameserver address of the zone.
type NameserverDetail struct {
	Host       string     `json:"host,omitempty"`
	Address    netip.Addr `json:"address"`
	Configured bool       `json:"configured,omitempty"`
}

// DSCheckDetail is the last DS-vs-DNSKEY check.
type DSCheckDetail struct {
	Status model.DSStatus `json:"status"`
	Detail string         `json:"detail,omitempty"`
	Time   time.Time      `json:"time"`
}

// SignatureExpiry is the earliest RRSIG expiration served.
type SignatureExpiry struct {
	Expiration time.Time `json:"expiration"`
	// Seconds is the time left at the document's time (negative once
	// expired).
	Seconds float64 `json:"seconds"`
	RRset   string  `json:"rrset"`
	Server  string  `json:"server,omitempty"`
}

// SerialDetail is the SOA serials of the authoritative servers.
type SerialDetail struct {
	// Spread is the distance between the lowest and the highest serial
	// (RFC 1982 arithmetic); 0 when they agree. Since is when they began
	// to differ.
	Spread  uint32         `json:"spread"`
	Since   time.Time      `json:"since,omitzero"`
	Servers []ServerSerial `json:"servers"`
}

// ServerSerial is one server's SOA serial.
type ServerSerial struct {
	Server string `json:"server"`
	Serial uint32 `json:"serial"`
}

// ZoneDetail builds the detail of the zone named name (any case, with or
// without the trailing dot); nil when the evaluator has no such zone. It
// costs O(the zone's servers and queries) and O(open incidents).
func (e *Evaluator) ZoneDetail(name string, now time.Time) *ZoneDetail {
	k := zoneKey(strings.TrimSpace(name))
	z := e.zones[k]
	if z == nil {
		return nil
	}
	zs := e.zoneStatus(k, z)
	d := &ZoneDetail{Schema: ZoneSchema, Time: now.UTC(), Vantage: e.vantage, Zone: k, Health: zs.Health, Kind: zs.Kind,
		Incident: zs.Incident, Failing: zs.Failing, Control: zs.Control, Open: []ZoneIncident{}, Servers: []ServerDetail{},
		LameServers: []string{}}
	if vs := e.slots[slotKey{groupVantage, e.vantage}]; vs != nil && vs.cond {
		d.VantageDown = true
	}
	for _, g := range []group{groupZone, groupMismatch, groupExpiry, groupDelegation} {
		if sl := e.slots[slotKey{g, k}]; sl != nil && sl.inc != nil {
			d.Open = append(d.Open, ZoneIncident{ID: sl.inc.ID, Kind: sl.inc.Kind, Severity: sl.inc.Severity, Opened: sl.inc.Opened})
		}
	}
	slices.SortFunc(d.Open, func(a, b ZoneIncident) int { return a.Opened.Compare(b.Opened) })
	lame := e.lameServers(z)
	for _, s := range lame {
		d.LameServers = append(d.LameServers, s.name)
	}
	for _, s := range z.order {
		d.Servers = append(d.Servers, e.serverDetail(s, slices.Contains(lame, s)))
	}
	d.Discovery = e.discoveryDetail(z)
	if z.ds != nil {
		d.DSCheck = &DSCheckDetail{Status: z.ds.Status, Detail: z.ds.Detail, Time: z.ds.Time.UTC()}
	}
	d.SignatureExpiry = detailExpiry(z, now)
	d.Serials = detailSerials(z)
	return d
}

// serverDetail is one server of the zone with its last results.
func (e *Evaluator) serverDetail(s *server, lame bool) ServerDetail {
	sd := ServerDetail{Name: s.name, Kind: s.kind, Validating: s.validating, Health: serverHealth(s), Lame: lame,
		Transport: model.Transport(e.dt.str(s.dt.transport)), Results: make([]ProbeResult, 0, len(s.dt.last))}
	if s.down {
		sd.FailingSince = s.failSince.UTC()
	}
	a := s.addr
	if s.kind == model.KindResolver {
		if r := e.resolvers[s.name]; r != nil {
			a = r.addr
		}
		sd.Address = e.dt.resAddr[s.name]
	} else if s.addr.IsValid() {
		sd.Address = netip.AddrPortFrom(s.addr, s.dt.port).String()
	}
	if x := e.addrs[a]; a.IsValid() && x != nil {
		sd.Route, sd.RouteWithdrawn = x.healthy, x.degraded
	}
	for _, q := range s.dt.last {
		sd.Results = append(sd.Results, e.dt.result(q))
	}
	slices.SortFunc(sd.Results, func(a, b ProbeResult) int {
		if c := strings.Compare(a.Name, b.Name); c != 0 {
			return c
		}
		return strings.Compare(a.Type, b.Type)
	})
	return sd
}

// discoveryDetail is the zone's nameservers and what its last discovery
// said (nil when it has neither).
func (e *Evaluator) discoveryDetail(z *zone) *DiscoveryDetail {
	if len(z.ns) == 0 && z.dt.discAt == 0 && z.deleg == nil {
		return nil
	}
	dd := &DiscoveryDetail{Error: z.dt.discErr, Nameservers: make([]NameserverDetail, 0, len(z.ns))}
	if z.dt.discAt != 0 {
		dd.Time = time.Unix(0, z.dt.discAt).UTC()
	}
	if z.fc != nil {
		dd.ParentNS, dd.ApexNS = z.fc.parentNS, z.fc.apexNS
	}
	if z.deleg != nil {
		dd.Delegation, dd.DelegationDetail = z.deleg.status, z.deleg.detail
	}
	for _, n := range z.ns {
		dd.Nameservers = append(dd.Nameservers, NameserverDetail{Host: n.host, Address: n.addr, Configured: z.configured[n.addr]})
	}
	slices.SortFunc(dd.Nameservers, func(a, b NameserverDetail) int {
		if c := strings.Compare(a.Host, b.Host); c != 0 {
			return c
		}
		return a.Address.Compare(b.Address)
	})
	return dd
}

// detailExpiry is the earliest signature expiration among the zone's
// current servers (the ones the dnssec_expiry rule looks at).
func detailExpiry(z *zone, now time.Time) *SignatureExpiry {
	first := earliestSig(z)
	if first == nil {
		return nil
	}
	return &SignatureExpiry{Expiration: first.v.Expiration.UTC(), Seconds: first.v.Expiration.Sub(now).Seconds(),
		RRset: first.rrset, Server: first.server}
}

// earliestSig is the signature of the zone's current servers that
// expires first (nil: none seen).
func earliestSig(z *zone) *sigEntry {
	if z.fc == nil {
		return nil
	}
	var first *sigEntry
	for _, en := range z.fc.sigs {
		if en.addr.IsValid() && !listed(z, en.addr) {
			continue
		}
		// Ties (every server signed at once) go to the first RRset, then
		// server, by name: compared without building a string, as this
		// runs for every zone of every status snapshot.
		if first == nil || en.v.Expiration.Before(first.v.Expiration) ||
			(en.v.Expiration.Equal(first.v.Expiration) && cmp.Or(strings.Compare(en.rrset, first.rrset), strings.Compare(en.server, first.server)) < 0) {
			first = en
		}
	}
	return first
}

// zoneSpread is the serial spread of the zone's current servers, as
// detailSerials has it, without building the detail.
func zoneSpread(z *zone) uint32 {
	if z.fc == nil || len(z.fc.serials) < 2 {
		return 0
	}
	var buf [8]uint32
	serials := buf[:0]
	for _, s := range z.fc.serials {
		if s.addr.IsValid() && !listed(z, s.addr) {
			continue
		}
		serials = append(serials, s.serial)
	}
	return spreadSorting(serials)
}

// detailSerials is the serials of the zone's current servers.
func detailSerials(z *zone) *SerialDetail {
	if z.fc == nil || len(z.fc.serials) == 0 {
		return nil
	}
	sd := &SerialDetail{Since: z.fc.spreadSince.UTC()}
	var serials []uint32
	for _, s := range z.fc.serials {
		if s.addr.IsValid() && !listed(z, s.addr) {
			continue
		}
		sd.Servers = append(sd.Servers, ServerSerial{Server: s.label, Serial: s.serial})
		serials = append(serials, s.serial)
	}
	if len(sd.Servers) == 0 {
		return nil
	}
	slices.SortFunc(sd.Servers, func(a, b ServerSerial) int { return strings.Compare(a.Server, b.Server) })
	sd.Spread = detailSpread(serials)
	if sd.Spread == 0 {
		sd.Since = time.Time{}
	}
	return sd
}

// detailSpread is the smallest arc of the 2^32 serial circle holding
// every serial (RFC 1982: a serial that wrapped is still close to the one
// before the wrap).
func detailSpread(s []uint32) uint32 {
	return spreadSorting(slices.Clone(s))
}

// spreadSorting is detailSpread, sorting s in place.
func spreadSorting(s []uint32) uint32 {
	if len(s) < 2 {
		return 0
	}
	slices.Sort(s)
	// The largest gap between neighbours (the wrap-around one included)
	// is the part of the circle the serials leave out.
	gap := s[0] - s[len(s)-1] // wrap-around, modulo 2^32
	for i := 1; i < len(s); i++ {
		gap = max(gap, s[i]-s[i-1])
	}
	return -gap
}

// zoneDetailState is what a zone keeps for its detail beyond the rules'
// state: when its last discovery ran and why it failed.
type zoneDetailState struct {
	discAt  int64 // Unix nanoseconds; 0: none
	discErr string
}

// serverDetailState is what a server keeps for the zone detail: the last
// result of each of its queries (with the query's run, which the rules
// count: server.worstRounds), its port (authoritative servers) and
// transport.
type serverDetailState struct {
	last      []queryResult
	port      uint16
	transport uint8 // index in evalDetail.strs
}

// resetRuns forgets every query's run (the queries' last results stay).
func (s *serverDetailState) resetRuns() {
	for i := range s.last {
		s.last[i].run = 0
		s.last[i].flags &^= resultRun
	}
}

// queryResult is the last result of one query, in 56 bytes, and its run
// (server.worstRounds).
type queryResult struct {
	name    string
	at      int64  // Unix nanoseconds
	latency uint32 // microseconds
	serial  uint32
	ede     [maxDetailEDE]uint16
	nede    uint8
	// qtype, rcode, errc (model.ErrorClass) and why (the failure class)
	// index evalDetail.strs.
	qtype, rcode, errc, why uint8
	flags                   resultFlags
	probes                  uint32 // results taken (wraps after 2^32)
	// run is the query's run of good (> 0) or failing (< 0) answers,
	// counted while resultRun is set (since the server was last reset).
	run int32
}

const maxDetailEDE = 3

type resultFlags uint8

const (
	resultOK resultFlags = 1 << iota
	resultAA
	resultSerial // serial is set
	resultCDRetry
	resultCDOK
	resultRun // run counts (the rules took a result since the last reset)
)

// evalDetail is the evaluator's part of the zone detail: the table the
// small indexes of queryResult point into, and each resolver's address.
type evalDetail struct {
	strs    []string // strs[0] is "", strs[1] detailOther
	idx     map[string]uint8
	resAddr map[string]string
}

// maxDetailStrings bounds the table: rcodes, error classes, record types
// and failure classes are each a handful; a string beyond it is shown as
// detailOther (index 1).
const (
	maxDetailStrings = 255
	detailOther      = "other"
)

// id returns s's index in the table, adding it.
func (d *evalDetail) id(s string) uint8 {
	if s == "" {
		return 0
	}
	if i, ok := d.idx[s]; ok {
		return i
	}
	if d.idx == nil {
		d.idx, d.strs = map[string]uint8{detailOther: 1}, []string{"", detailOther}
		if s == detailOther {
			return 1
		}
	}
	if len(d.strs) >= maxDetailStrings {
		return 1 // detailOther
	}
	i := uint8(len(d.strs))
	d.strs = append(d.strs, strings.Clone(s))
	d.idx[d.strs[i]] = i
	return i
}

// same returns cur when it already indexes s (the common case: a query
// answers as it did last time), else s's index.
func (d *evalDetail) same(cur uint8, s string) uint8 {
	if d.str(cur) == s {
		return cur
	}
	return d.id(s)
}

func (d *evalDetail) str(i uint8) string {
	if int(i) >= len(d.strs) {
		return ""
	}
	return d.strs[i]
}

// noteDetail records o (ok and class as the rules judged it) as the last
// result of its query at srv, and returns that query's result (whose run
// the rules count next).
func (e *Evaluator) noteDetail(srv *server, o model.Observation, ok bool, class string) *queryResult {
	d := &e.dt
	s := &srv.dt
	s.transport = d.same(s.transport, string(o.Server.Transport))
	if srv.kind == model.KindResolver {
		if d.resAddr[srv.name] != o.Server.Addr {
			if d.resAddr == nil {
				d.resAddr = map[string]string{}
			}
			d.resAddr[srv.name] = o.Server.Addr
		}
	} else if s.port == 0 {
		if ap, err := netip.ParseAddrPort(o.Server.Addr); err == nil {
			s.port = ap.Port() // a server keeps its port (53 when discovered; configured ones are named address:port)
		}
	}
	var q *queryResult
	for i := range s.last {
		if s.last[i].name == o.Name && d.str(s.last[i].qtype) == o.Type {
			q = &s.last[i]
			break
		}
	}
	if q == nil {
		s.last = append(s.last, queryResult{name: o.Name, qtype: d.id(o.Type)})
		q = &s.last[len(s.last)-1]
	}
	q.probes++
	q.at = 0
	if !o.Time.IsZero() {
		q.at = o.Time.UnixNano()
	}
	q.latency = uint32(min(o.Latency.Microseconds(), math.MaxUint32))
	q.rcode, q.errc, q.why = d.same(q.rcode, o.Rcode), d.same(q.errc, string(o.Error)), d.same(q.why, class)
	q.flags, q.serial, q.nede = q.flags&resultRun, 0, 0
	if ok {
		q.flags |= resultOK
	}
	if o.AA {
		q.flags |= resultAA
	}
	if o.SOASerial != nil {
		q.flags |= resultSerial
		q.serial = *o.SOASerial
	}
	if o.CDRetry != nil {
		q.flags |= resultCDRetry
		if o.CDRetry.Succeeded {
			q.flags |= resultCDOK
		}
	}
	for _, x := range o.EDE {
		if int(q.nede) < maxDetailEDE {
			q.ede[q.nede] = x.Code
			q.nede++
		}
	}
	return q
}

// result turns a kept result into its document.
func (d *evalDetail) result(q queryResult) ProbeResult {
	r := ProbeResult{Name: q.name, Type: d.str(q.qtype), Success: q.flags&resultOK != 0, Failure: d.str(q.why),
		Rcode: d.str(q.rcode), Error: model.ErrorClass(d.str(q.errc)), LatencyMS: float64(q.latency) / 1000,
		AA: q.flags&resultAA != 0, Probes: q.probes}
	if q.at != 0 {
		r.Time = time.Unix(0, q.at).UTC()
	}
	if q.nede > 0 {
		r.EDE = slices.Clone(q.ede[:q.nede])
	}
	if q.flags&resultCDRetry != 0 {
		r.CDRetry = "failed"
		if q.flags&resultCDOK != 0 {
			r.CDRetry = "succeeded"
		}
	}
	if q.flags&resultSerial != 0 {
		v := q.serial
		r.SOASerial = &v
	}
	return r
}

// keep forgets the results of queries the zone no longer asks
// (keepQueries).
func (s *serverDetailState) keep(asked map[string]bool, d *evalDetail) {
	s.last = slices.DeleteFunc(s.last, func(q queryResult) bool { return !asked[strings.ToLower(q.name)+" "+d.str(q.qtype)] })
}

// noteDiscoveryDetail records when the zone's discovery ran and why it
// failed.
func (z *zone) noteDiscoveryDetail(d model.Discovery) {
	z.dt.discAt, z.dt.discErr = 0, d.Error
	if !d.Time.IsZero() {
		z.dt.discAt = d.Time.UnixNano()
	}
}
