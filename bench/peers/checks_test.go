package benchpeers

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/miekg/dns"
	dto "github.com/prometheus/client_model/go"
)

// The check set: every zone's names x types asked of every resolver (RD=1)
// and of both of the zone's authoritative servers (RD=0), as reachmon's
// scheduler plans it for a zone configured with these names and types
// (internal/schedule: resolverJobs, authJobs; TestCheckSetMatchesSchedule
// keeps the two equal).
const (
	numZones     = 40 // lab.MaxZones
	numResolvers = 4
)

var (
	checkNames = []string{"@", "www", "ns1", "ns2"}
	checkTypes = []string{"SOA", "A", "AAAA"}
)

// zoneName is the lab zone i.
func zoneName(i int) string { return fmt.Sprintf("z%02d.test.", i) }

const (
	kindResolver = "resolver"
	kindAuth     = "authoritative"
)

// check is one DNS check: a name and type asked of one server.
type check struct {
	kind   string // kindResolver or kindAuth
	server string // ip:port
	zone   string // "z00.test."
	name   string // FQDN
	qtype  string
}

func (c check) rd() bool { return c.kind == kindResolver }

// module is the blackbox_exporter module of the check: one per (RD, name,
// type), shared by every server asked the same question.
func (c check) module() string {
	k := "auth"
	if c.rd() {
		k = "res"
	}
	return k + "_" + strings.TrimSuffix(c.name, ".") + "_" + c.qtype
}

// probeURL is the blackbox_exporter /probe URL of the check.
func (c check) probeURL(base string) string {
	return base + "/probe?" + url.Values{"module": {c.module()}, "target": {c.server}}.Encode()
}

// zoneServers is one zone and its authoritative servers (ip:port).
type zoneServers struct {
	name string
	auth []string
}

// checkSet is the whole set of checks over a lab.
type checkSet struct {
	resolvers []string // ip:port
	zones     []zoneServers
	checks    []check
}

func (s *checkSet) count(kind string) int {
	n := 0
	for _, c := range s.checks {
		if c.kind == kind {
			n++
		}
	}
	return n
}

// queryName is config.QueryName for the names used here.
func queryName(n, zone string) string {
	if n == "@" {
		return zone
	}
	return n + "." + zone
}

func newCheckSet(resolvers []string, zones []zoneServers) *checkSet {
	s := &checkSet{resolvers: resolvers, zones: zones}
	for _, z := range zones {
		for _, r := range resolvers {
			for _, n := range checkNames {
				for _, t := range checkTypes {
					s.checks = append(s.checks, check{kind: kindResolver, server: r, zone: z.name, name: queryName(n, z.name), qtype: t})
				}
			}
		}
		// Authoritative servers: SOA only at the apex (checkTypes holds
		// SOA and checkNames the apex, so nothing is added).
		for _, a := range z.auth {
			for _, n := range checkNames {
				for _, t := range checkTypes {
					q := queryName(n, z.name)
					if t == "SOA" && q != z.name {
						continue
					}
					s.checks = append(s.checks, check{kind: kindAuth, server: a, zone: z.name, name: q, qtype: t})
				}
			}
		}
	}
	return s
}

// probeSettings are reachmon's [probe] settings of one run: every check
// once per interval, each query given timeout.
type probeSettings struct {
	interval, timeout, jitter time.Duration
	concurrency               int
}

// concurrency is reachmon's [probe] concurrency in every run: far above the probes in flight at any rate
// reached here (checks/s x latency), so that it is never the limit.
const concurrency = 2000

// maxTimeout is the query timeout of both tools when the interval allows
// it (reachmon requires timeout <= interval).
const maxTimeout = 2 * time.Second

// settingsFor returns the schedule that offers rate checks per second:
// interval = checks / rate, timeout = min(interval, maxTimeout), and a
// jitter of 99% of the interval, which spreads reachmon's probes evenly
// over it: the first round of each probe starts at a random point of the
// interval and the later rounds keep that phase, as the scraper's
// per-check offsets (and Prometheus's per-target offsets) do, and as
// reachmon's default jitter (the whole interval) does.
func (s *checkSet) settingsFor(rate float64) probeSettings {
	iv := time.Duration(float64(len(s.checks)) / rate * float64(time.Second)).Round(time.Millisecond)
	return probeSettings{interval: iv, timeout: min(iv, maxTimeout), jitter: iv - iv/100, concurrency: concurrency}
}

// bursts returns p with jitter a tenth of the interval (reachmon's
// default until 2026-11-23): each interval's checks all start in its first tenth, bursts
// of ten times the average rate.
func (p probeSettings) bursts() probeSettings {
	p.jitter = p.interval / 10
	return p
}

// reachmonConfig is the configuration of `reachmon run`: the resolvers,
// the zones with their names, types and authoritative servers given
// explicitly (no discovery), the DS-vs-DNSKEY check off (dnssec = false),
// no [bgp] and no [slack].
func (s *checkSet) reachmonConfig(listen, stateDir string, p probeSettings) string {
	var b strings.Builder
	fmt.Fprintf(&b, "vantage = \"bench\"\nlisten = %q\nstate_dir = %q\n\n", listen, stateDir)
	b.WriteString("[log]\nlevel = \"info\"\nformat = \"text\"\n\n")
	fmt.Fprintf(&b, "[probe]\ninterval = %q\ntimeout = %q\njitter = %q\nconcurrency = %d\n\n",
		p.interval, p.timeout, p.jitter, p.concurrency)
	for i, r := range s.resolvers {
		fmt.Fprintf(&b, "[[resolver]]\nname = \"res%d\"\naddress = %q\n\n", i, r)
	}
	quote := func(xs []string) string {
		q := make([]string, len(xs))
		for i, x := range xs {
			q[i] = fmt.Sprintf("%q", x)
		}
		return "[" + strings.Join(q, ", ") + "]"
	}
	for _, z := range s.zones {
		fmt.Fprintf(&b, "[[zone]]\nname = %q\nnames = %s\ntypes = %s\nauthoritative = %s\ndnssec = false\n\n",
			strings.TrimSuffix(z.name, "."), quote(checkNames), quote(checkTypes), quote(z.auth))
	}
	return b.String()
}

// blackboxConfig is prometheus-blackbox-exporter's configuration: one dns
// module per (RD, name, type), UDP over IPv4, NOERROR required, the same
// query timeout as reachmon.
func (s *checkSet) blackboxConfig(timeout time.Duration) string {
	var b strings.Builder
	b.WriteString("modules:\n")
	seen := map[string]bool{}
	for _, c := range s.checks {
		m := c.module()
		if seen[m] {
			continue
		}
		seen[m] = true
		fmt.Fprintf(&b, `  %s:
    prober: dns
    timeout: %s
    dns:
      query_name: %q
      query_type: %s
      transport_protocol: udp
      preferred_ip_protocol: ip4
      ip_protocol_fallback: false
      recursion_desired: %t
      valid_rcodes: [NOERROR]
`, m, timeout, c.name, c.qtype, c.rd())
	}
	return b.String()
}

// failingKey is the label set (zone, name, qtype, server, kind, transport)
// reachmon gives the check's reachmon_dns_probe_failing series while it
// fails, with reachmonConfig's names: the zone without its trailing dot,
// a resolver by its configured name (res0, res1, ...), an authoritative
// server by the IP:port it is configured with, UDP.
// TestCheckSetMatchesSchedule holds it to what reachmon exports.
func (s *checkSet) failingKey(c check) string {
	server := c.server
	if c.kind == kindResolver {
		server = fmt.Sprintf("res%d", slices.Index(s.resolvers, c.server))
	}
	return failingKey(strings.TrimSuffix(c.zone, "."), c.name, c.qtype, server, c.kind, "udp")
}

func failingKey(zone, name, qtype, server, kind, transport string) string {
	return strings.Join([]string{zone, name, qtype, server, kind, transport}, " ")
}

// failingNotChecks returns the reachmon_dns_probe_failing series of fam
// (nil: none) that name no check of the set, as failingKey spells them.
func (s *checkSet) failingNotChecks(fam *dto.MetricFamily) []string {
	known := make(map[string]bool, len(s.checks))
	for _, c := range s.checks {
		known[s.failingKey(c)] = true
	}
	var out []string
	for _, m := range fam.GetMetric() {
		l := map[string]string{}
		for _, lp := range m.GetLabel() {
			l[lp.GetName()] = lp.GetValue()
		}
		if k := failingKey(l["zone"], l["name"], l["qtype"], l["server"], l["kind"], l["transport"]); !known[k] {
			out = append(out, k)
		}
	}
	return out
}

// questions returns the distinct (name, type) pairs asked with RD set or
// not, sorted.
func (s *checkSet) questions(rd bool) []string {
	seen := map[string]bool{}
	var out []string
	for _, c := range s.checks {
		k := c.name + " " + c.qtype
		if c.rd() != rd || seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// qtype is the type code of a mnemonic used here.
func qtype(t string) uint16 { return dns.StringToType[t] }
