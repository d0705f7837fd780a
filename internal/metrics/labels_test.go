package metrics_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/reachmon/reachmon/internal/app"
	"github.com/reachmon/reachmon/internal/config"
	"github.com/reachmon/reachmon/internal/model"
	"github.com/reachmon/reachmon/internal/notify/slack/fakeslack"
	"github.com/reachmon/reachmon/internal/testdns"
)

// dims are the sizes a configuration gives the label values.
type dims struct {
	zones, resolvers, peers, prefixes int
	// auth is Σ over zones of the zone's authoritative servers.
	auth int
	// probes is Σ over zones of names × (types + 1) × servers: every
	// (zone, name, type, server), the apex SOA asked of authoritative
	// servers included.
	probes int
	// addrs is the watched addresses (resolvers, nameservers).
	addrs int
	// checks is the /readyz checks; channels the notification channels
	// (Slack's, one per [[alertmanager]] and [[webhook]]); sinks the
	// notifiers (Slack, each [[alertmanager]] and [[webhook]]); amURLs
	// the URLs of every [[alertmanager]].
	checks, channels, sinks, amURLs int
	// routers is the [[bmp.router]] entries.
	routers int
	// rtrs is the [[rpki.rtr]] entries.
	rtrs int
}

// labelDoc is one metric: its labels besides vantage, what bounds their
// values, and the bound itself for a configuration.
type labelDoc struct {
	labels []string
	bound  string
	max    func(d dims) int
	// absent says why the daemon of this test may not expose the metric
	// (empty: it must).
	absent string
}

// rcodes bounds the rcode label: the names miekg/dns has for response
// codes (RFC 6895 assigns 0-23).
const rcodes = 24

var (
	kinds       = len(model.IncidentKinds)
	severities  = len(model.Severities)
	transitions = 3 // open, update, resolve
)

// metricLabels documents every reachmon metric, its labels and their bound.
// The test below keeps it true against a live daemon and docs/metrics.md.
var metricLabels = map[string]labelDoc{
	"reachmon_build_info": {[]string{"goversion", "version"}, "one per process", func(dims) int { return 1 }, ""},

	"reachmon_dns_probe_failing": {[]string{"kind", "name", "qtype", "server", "transport", "zone"},
		"the failing queries among: configured zones × their configured names × (their types + the apex SOA) × (resolvers + the zone's authoritative servers)",
		func(d dims) int { return d.probes }, "exists only while a query fails"},
	"reachmon_dns_probe_duration_seconds": {[]string{"kind", "server", "transport"},
		"servers: resolvers + distinct authoritative servers ([metrics] zone_latency = true adds zone: (zone, server) pairs)",
		func(d dims) int { return d.resolvers + d.auth }, ""},
	"reachmon_dns_responses_total": {[]string{"kind", "rcode", "server", "transport"},
		"servers × 24 rcode names", func(d dims) int { return (d.resolvers + d.auth) * rcodes }, ""},
	"reachmon_dns_probe_errors_total": {[]string{"class", "kind", "server", "transport"},
		"servers × 8 error classes", func(d dims) int { return (d.resolvers + d.auth) * 8 },
		"created on the first failed probe"},
	"reachmon_dns_ede_total": {[]string{"code", "kind", "server", "transport"},
		"servers × 51 codes (0-49, other)", func(d dims) int { return (d.resolvers + d.auth) * 51 },
		"created on the first Extended DNS Error"},
	"reachmon_dns_cd_retry_total": {[]string{"result", "server"},
		"validating resolvers × 2 results", func(d dims) int { return d.resolvers * 2 },
		"created on the first SERVFAIL from a validating resolver"},
	"reachmon_zone_health": {[]string{"health", "zone"}, "zones (one health each)", func(d dims) int { return d.zones }, ""},
	"reachmon_dns_ds_check_status": {[]string{"status", "zone"},
		"zones (the last check's status)", func(d dims) int { return d.zones }, ""},
	"reachmon_dns_authoritative_servers": {[]string{"zone"}, "zones", func(d dims) int { return d.zones }, ""},
	"reachmon_dnssec_signature_expiry_seconds": {[]string{"zone"}, "zones", func(d dims) int { return d.zones },
		"created on the first signed answer of an authoritative server"},
	"reachmon_dns_lame_servers": {[]string{"zone"}, "zones", func(d dims) int { return d.zones },
		"present only while a zone has lame servers"},
	"reachmon_dns_soa_serial_spread": {[]string{"zone"}, "zones", func(d dims) int { return d.zones },
		"present only while a zone's servers serve different serials"},

	"reachmon_probe_schedule_lag_seconds": {nil, "one", func(dims) int { return 1 }, ""},
	"reachmon_probe_skipped_total": {[]string{"zone"}, "zones", func(d dims) int { return d.zones },
		"created on the first skipped round"},
	"reachmon_probe_in_flight":         {nil, "one", func(dims) int { return 1 }, ""},
	"reachmon_probe_concurrency_limit": {nil, "one", func(dims) int { return 1 }, ""},

	"reachmon_incidents_open": {[]string{"kind", "severity"}, "incident kinds × severities (all pre-created)",
		func(dims) int { return kinds * severities }, ""},
	"reachmon_incident_transitions_total": {[]string{"kind", "transition"}, "incident kinds × 3 transitions (all pre-created)",
		func(dims) int { return kinds * transitions }, ""},
	"reachmon_incident_open_info": {[]string{"kind", "severity", "subject", "subject_kind", "zone"},
		"open incidents: one per kind and subject, subjects being the configured zones, prefixes (a prefix_hijack's: the prefix and one unexpected origin AS), resolvers, peers and the vantage",
		func(d dims) int { return kinds * (d.zones + d.prefixes + d.resolvers + d.peers + 1) },
		"exists only while an incident is open"},
	"reachmon_incident_root_cause_info": {[]string{"kind", "root_cause", "severity", "subject", "subject_kind", "zone"},
		"open incidents, as reachmon_incident_open_info, with the root cause (cut at 300 characters) as text",
		func(d dims) int { return kinds * (d.zones + d.prefixes + d.resolvers + d.peers + 1) },
		"exists only while an incident is open"},

	"reachmon_bgp_peer_up":     {[]string{"peer"}, "configured neighbors + the BMP routers' monitored peers (views)", func(d dims) int { return d.peers }, ""},
	"reachmon_bgp_peer_synced": {[]string{"peer"}, "configured neighbors + BMP views", func(d dims) int { return d.peers }, ""},
	"reachmon_bgp_prefix_visible_peers": {[]string{"prefix"},
		"configured prefixes + the supernets of watched addresses (≤ 33 per IPv4, 129 per IPv6 address)",
		func(d dims) int { return d.prefixes + 129*d.addrs }, ""},
	"reachmon_bgp_prefix_origin_info": {[]string{"origin", "prefix"},
		"tracked prefixes (as above) × the origins their peers carry (≤ neighbors)",
		func(d dims) int { return (d.prefixes + 129*d.addrs) * d.peers }, "created when a peer announces a tracked prefix"},
	"reachmon_bgp_updates_total": {[]string{"kind", "peer"}, "configured neighbors × 5 kinds (pre-created)",
		func(d dims) int { return d.peers * 5 }, ""},
	"reachmon_bgp_events_dropped_total": {[]string{"queue"}, "2 queues (feed, evaluator)", func(dims) int { return 2 },
		"created on the first drop"},
	"reachmon_bgp_resyncs_total": {nil, "one", func(dims) int { return 1 }, ""},
	"reachmon_bgp_addresses_degraded": {[]string{"name", "role"}, "resolvers + zones (role nameserver, name a zone)",
		func(d dims) int { return d.resolvers + d.zones }, ""},
	"reachmon_bgp_watched":               {[]string{"what"}, "2 (prefixes, addresses)", func(dims) int { return 2 }, ""},
	"reachmon_ris_live_connected":        {nil, "one", func(dims) int { return 1 }, ""},
	"reachmon_ris_live_messages_total":   {[]string{"type"}, "7 types (pre-created)", func(dims) int { return 7 }, ""},
	"reachmon_ris_live_lag_seconds":      {nil, "one", func(dims) int { return 1 }, ""},
	"reachmon_ris_live_subscriptions":    {nil, "one", func(dims) int { return 1 }, ""},
	"reachmon_ris_live_reconnects_total": {nil, "one", func(dims) int { return 1 }, ""},
	"reachmon_bgp_more_specifics_overflow_total": {[]string{"prefix"}, "configured prefixes (pre-created)",
		func(d dims) int { return d.prefixes }, ""},

	"reachmon_bmp_session_up":      {[]string{"router"}, "[[bmp.router]] entries (pre-created)", func(d dims) int { return d.routers }, ""},
	"reachmon_bmp_peers_up":        {[]string{"router"}, "[[bmp.router]] entries (pre-created)", func(d dims) int { return d.routers }, ""},
	"reachmon_bmp_malformed_total": {[]string{"router"}, "[[bmp.router]] entries (pre-created)", func(d dims) int { return d.routers }, ""},
	"reachmon_bmp_messages_total": {[]string{"router", "type"}, "[[bmp.router]] entries × 7 BMP message types (pre-created)",
		func(d dims) int { return d.routers * 7 }, ""},
	"reachmon_bmp_routes_total": {[]string{"result", "router"}, "[[bmp.router]] entries × 2 results (kept, filtered; pre-created)",
		func(d dims) int { return d.routers * 2 }, ""},
	"reachmon_bmp_refused_connections_total": {nil, "one", func(dims) int { return 1 }, ""},
	"reachmon_bgp_session_received_prefixes": {[]string{"family", "peer"}, "full_table neighbors × 2 families",
		func(d dims) int { return d.peers * 2 }, "created when a full_table session reads its first UPDATE"},
	"reachmon_bgp_session_messages_total": {[]string{"peer", "type"}, "full_table neighbors × 5 BGP message types",
		func(d dims) int { return d.peers * 5 }, "created when a full_table neighbor connects"},
	"reachmon_bgp_session_notifications_total": {[]string{"direction", "peer"}, "full_table neighbors × 2 directions (sent, received)",
		func(d dims) int { return d.peers * 2 }, "created on a full_table session's first NOTIFICATION"},
	"reachmon_bgp_session_routes_total": {[]string{"peer", "result"}, "full_table neighbors × 2 results (kept, filtered)",
		func(d dims) int { return d.peers * 2 }, "created on a full_table session's first UPDATE"},
	"reachmon_bgp_session_malformed_updates_total": {[]string{"peer"}, "full_table neighbors",
		func(d dims) int { return d.peers }, "created on a full_table session's first malformed UPDATE"},

	"reachmon_rpki_rtr_session_up": {[]string{"server"}, "[[rpki.rtr]] entries (pre-created)", func(d dims) int { return d.rtrs }, ""},
	"reachmon_rpki_vrps": {[]string{"family", "source"}, "2 sources (rtr, file) × 2 families", func(dims) int { return 4 },
		""},
	"reachmon_rpki_relevant_vrps":         {[]string{"family"}, "2 families (pre-created)", func(dims) int { return 2 }, ""},
	"reachmon_rpki_vrp_file_errors_total": {nil, "one", func(dims) int { return 1 }, ""},
	"reachmon_rpki_route_state": {[]string{"origin", "prefix", "state"},
		"configured prefixes × the origins their peers announce now (≤ neighbors); one state each",
		func(d dims) int { return d.prefixes * d.peers }, "created when a watched prefix is announced while VRPs are known"},

	"reachmon_notifications_total": {[]string{"channel", "result"},
		"(configured Slack channels + one alertmanager/<name> per [[alertmanager]] + one webhook/<name> per [[webhook]]) × 5 results",
		func(d dims) int { return d.channels * 5 }, ""},
	"reachmon_notification_latency_seconds": {[]string{"channel"}, "notification channels, as above",
		func(d dims) int { return d.channels }, ""},
	"reachmon_notification_queue_depth": {nil, "one", func(dims) int { return 1 }, ""},
	"reachmon_alertmanager_requests_total": {[]string{"alertmanager", "result", "url"},
		"the URLs of every [[alertmanager]] × 3 results (pre-created)", func(d dims) int { return d.amURLs * 3 },
		""},
	"reachmon_notifications_silenced_total": {[]string{"channel"}, "notification channels, as above",
		func(d dims) int { return d.channels }, ""},
	"reachmon_silences_active": {[]string{"source"}, "2 sources (api, maintenance)", func(dims) int { return 2 }, ""},

	"reachmon_ready": {[]string{"check"}, "the /readyz checks (dns_discovery, state_writes, notify, notify_alertmanager_<name>, notify_webhook_<name>)",
		func(d dims) int { return d.checks }, ""},
	"reachmon_state_write_errors_total": {[]string{"store"},
		"the state stores: incidents, notify when Slack is on, notify-alertmanager-<name> and notify-webhook-<name> per sink",
		func(d dims) int { return 1 + d.sinks }, ""},
	"reachmon_config_info": {[]string{"sha256"}, "one: the configuration in force (a reload replaces it)", func(dims) int { return 1 },
		""},
	"reachmon_config_last_reload_successful": {nil, "one", func(dims) int { return 1 }, ""},
	"reachmon_config_reloads_total":          {[]string{"result"}, "2: success, failure", func(dims) int { return 2 }, ""},
	"reachmon_config_load_timestamp_seconds": {nil, "one", func(dims) int { return 1 },
		""},
	"reachmon_shard_info":  {[]string{"count", "index"}, "one: this instance's [shard] (a reload replaces it)", func(dims) int { return 1 }, ""},
	"reachmon_shard_zones": {nil, "one", func(dims) int { return 1 }, ""},
}

const labZone = `
lab.example. 300 IN SOA ns1.lab.example. host.lab.example. 2026112301 3600 600 86400 300
lab.example. 300 IN NS ns1.lab.example.
www.lab.example. 60 IN A 192.0.2.10
`

// TestMetricLabels runs a daemon (one resolver, one authoritative server,
// a BGP neighbor that never answers, a watched prefix, one Slack channel
// on a local fake of Slack's API, an Alertmanager and a webhook that are
// not listening), walks its live
// metrics and checks each reachmon metric against metricLabels: it is
// documented, carries vantage plus exactly the documented labels, and has
// no more series than its bound for this configuration. Every documented
// metric is exposed unless the table says why not, and docs/metrics.md's
// table agrees with the labels documented here.
func TestMetricLabels(t *testing.T) {
	t.Setenv("REACHMON_LABELS_WEBHOOK_SECRET", "labels-test-secret")
	srv := testdns.Start(t, labZone, true)
	const token = "xoxb-reachmon-labels"
	fake := fakeslack.New(token, map[string]string{"#dns": "C0LABELS1"})
	defer fake.Close()
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(token), 0o600); err != nil {
		t.Fatal(err)
	}
	listen := freeAddr(t)
	vrpFile := filepath.Join(t.TempDir(), "vrps.json")
	if err := os.WriteFile(vrpFile, []byte(`{"roas": [{"prefix": "192.0.2.0/24", "maxLength": 24, "asn": "AS64500"}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse("t.toml", []byte(fmt.Sprintf(`
vantage = "labels"
listen = %q
state_dir = %q
[probe]
interval = "200ms"
timeout = "150ms"
ds_check_interval = "1s"
[[resolver]]
name = "local"
address = %q
[[zone]]
name = "lab.example"
names = ["@", "www"]
types = ["A", "SOA"]
authoritative = [%q]
[[prefix]]
prefix = "192.0.2.0/24"
origins = [64500]
[slack]
token_file = %q
api_url = %q
channel = "C0LABELS1"
[bgp]
asn = 64512
router_id = "127.0.0.1"
[[bgp.neighbor]]
address = "127.0.0.1"
port = 1
peer_asn = 65010
connect_retry = "1s"
[ris_live]
url = "ws://127.0.0.1:1/v1/ws/"
[bmp]
listen = %q
[[bmp.router]]
address = "127.0.0.9"
name = "edge1"
[rpki]
vrp_file = %q
[[rpki.rtr]]
address = "127.0.0.1"
port = 1
[[alertmanager]]
urls = ["http://127.0.0.1:1"]
[[webhook]]
name = "hook"
url = "http://127.0.0.1:1/hook"
secret_env = "REACHMON_LABELS_WEBHOOK_SECRET"
`, listen, t.TempDir(), srv.Addr, srv.Addr, tokenFile, fake.APIURL(), freeAddr(t), vrpFile)))
	if err != nil {
		t.Fatal(err)
	}
	d := dims{zones: 1, resolvers: 1, peers: 1, prefixes: 1, auth: 1, probes: 2 * 3 * 2, addrs: 2, checks: 5, channels: 3, sinks: 3, amURLs: 1, routers: 1, rtrs: 1}
	daemon, err := app.New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- daemon.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()

	type family struct {
		labels []string
		series int
	}
	var live map[string]family
	deadline := time.Now().Add(15 * time.Second)
	for {
		mfs, err := daemon.Registry().Gather()
		if err != nil {
			t.Fatal(err)
		}
		live = map[string]family{}
		for _, mf := range mfs {
			name := mf.GetName()
			if !strings.HasPrefix(name, "reachmon_") {
				continue
			}
			f := family{series: len(mf.GetMetric())}
			for i, m := range mf.GetMetric() {
				var names []string
				hasVantage := false
				for _, lp := range m.GetLabel() {
					if lp.GetName() == "vantage" {
						hasVantage = lp.GetValue() == "labels"
						continue
					}
					names = append(names, lp.GetName())
				}
				sort.Strings(names)
				if !hasVantage {
					t.Errorf("%s: a series without vantage=\"labels\"", name)
				}
				if i == 0 {
					f.labels = names
				} else if !slices.Equal(names, f.labels) {
					t.Errorf("%s: label sets %v and %v", name, f.labels, names)
				}
			}
			live[name] = f
		}
		_, soa := live["reachmon_dns_authoritative_servers"]
		_, ds := live["reachmon_dns_ds_check_status"]
		// Probes are spread over the interval: wait for every metric
		// documented as always exposed too (the deadline bounds it).
		all := true
		for name, doc := range metricLabels {
			if _, ok := live[name]; !ok && doc.absent == "" {
				all = false
			}
		}
		if soa && ds && all {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the daemon never probed: %v", live)
		}
		time.Sleep(50 * time.Millisecond)
	}

	for name, f := range live {
		doc, ok := metricLabels[name]
		if !ok {
			t.Errorf("%s %v is not documented in metricLabels", name, f.labels)
			continue
		}
		if !slices.Equal(f.labels, doc.labels) {
			t.Errorf("%s: labels %v, documented %v", name, f.labels, doc.labels)
		}
		if max := doc.max(d); f.series > max {
			t.Errorf("%s: %d series, above its bound %d (%s)", name, f.series, max, doc.bound)
		}
	}
	for name, doc := range metricLabels {
		_, ok := live[name]
		switch {
		case !ok && doc.absent == "":
			t.Errorf("%s is documented as always exposed but the daemon does not expose it", name)
		}
	}

	// docs/metrics.md's table: every row is documented here with the
	// same labels.
	readme, err := os.ReadFile("../../docs/metrics.md")
	if err != nil {
		t.Fatal(err)
	}
	rows := regexp.MustCompile("(?m)^\\| `(reachmon_[a-z0-9_]+)` \\| [a-z]+ \\| ([^|]*) \\|$").FindAllStringSubmatch(string(readme), -1)
	if len(rows) < 20 {
		t.Fatalf("docs/metrics.md: %d metric rows found", len(rows))
	}
	inDoc := map[string]bool{}
	for _, r := range rows {
		inDoc[r[1]] = true
		doc, ok := metricLabels[r[1]]
		if !ok {
			t.Errorf("docs/metrics.md lists %s, which metricLabels does not document", r[1])
			continue
		}
		var labels []string
		for _, l := range strings.Split(regexp.MustCompile(`\([^)]*\)`).ReplaceAllString(r[2], ""), ",") {
			if l = strings.TrimSpace(l); l != "" && l != "—" {
				labels = append(labels, l)
			}
		}
		sort.Strings(labels)
		if !slices.Equal(labels, doc.labels) {
			t.Errorf("docs/metrics.md: %s has labels %v, metricLabels %v", r[1], labels, doc.labels)
		}
	}
	var missing []string
	for name := range metricLabels {
		if !inDoc[name] {
			missing = append(missing, name)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Logf("not yet in docs/metrics.md's table: %v", missing)
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
