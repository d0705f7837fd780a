package integration

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/reachmon/reachmon/integration/outagelab"
	"github.com/reachmon/reachmon/internal/incident"
	"github.com/reachmon/reachmon/internal/model"
)

// TestDemo is `make demo` (scripts/demo.sh): the Facebook-style and
// Slack-style outages played against the real lab for a person, with a
// timeline, the incidents and the Slack messages as they arrive, then a
// summary (each page, its detection latency, how it resolved) and the
// links to open; reachmon and Prometheus keep running (forwarded to host
// loopback) until Ctrl-C, which is the normal way out: everything is
// cleaned up and the test passes. It fails when the lab cannot start or an
// outage is not paged or does not resolve. Skipped unless REACHMON_DEMO=1.
func TestDemo(t *testing.T) {
	if os.Getenv("REACHMON_DEMO") == "" {
		t.Skip("make demo runs this (REACHMON_DEMO=1)")
	}
	if !outagelab.EnterUntilInterrupt(t) {
		return
	}
	// Ctrl-C (or SIGTERM) ends the demo. The handler is never removed: the
	// outer run forwards the signal as well, and a second one arriving
	// during the clean-up must not kill the process halfway.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { <-sig; cancel() }()
	d := &demo{t: t, ctx: ctx}
	d.say("starting the lab: NSD + 3 validating Unbound + 2 BIRD peers + fakeslack + Prometheus + reachmon, in a network namespace")
	d.l = outagelab.Start(t, outagelab.Options{Zones: []string{"fb.test.", "slack.test.", "other.test."}, TTL: 20 * time.Second, Prometheus: true})
	d.l.ServeSockets()
	d.say("lab ready: zones fb.test, slack.test, other.test; every check healthy, BGP sessions synced")

	endWatch := d.watch()
	played := d.facebook() && d.slack()
	endWatch()
	if !played {
		d.say("interrupted: stopping everything")
		return
	}
	out, _ := exec.Command(os.Getenv("REACHMON_OUTAGELAB_BIN"), "incidents", "-v", "--url", d.l.URL).CombinedOutput()
	fmt.Printf("\n=== reachmon incidents -v\n%s\n", out)
	fmt.Printf("=== Slack, as posted\n%s\n", d.l.SlackLog())
	d.summary(os.Getenv("REACHMON_OUTAGELAB_FORWARD"))
	<-ctx.Done()
	d.say("interrupted: stopping reachmon, Prometheus, the DNS servers and BGP peers, removing the namespace")
}

// demo is one run of the demo: the lab, the person's Ctrl-C, and what
// each outage did.
type demo struct {
	t        *testing.T
	ctx      context.Context // done on Ctrl-C
	l        *outagelab.Lab
	outcomes []outcome
}

// outcome is one outage as reachmon saw it: the incident it paged, as it
// stood once resolved.
type outcome struct {
	name  string // "Facebook-style"
	fault string // "the withdrawal"
	at    time.Time
	inc   incident.Entry
}

func (d *demo) say(format string, args ...any) {
	fmt.Printf("%s  %s\n", time.Now().Format("15:04:05.000"), fmt.Sprintf(format, args...))
}

// watch prints every Slack call and incident change as it happens, until
// the returned function is called.
func (d *demo) watch() (end func()) {
	var wg sync.WaitGroup
	ctx, cancel := context.WithCancel(context.Background())
	wg.Go(func() {
		seenCalls := 0
		seenInc := map[string]string{}
		for ctx.Err() == nil {
			calls := d.l.Slack.Calls()
			for _, c := range calls[seenCalls:] {
				switch {
				case c.Method == "chat.postMessage" && c.ThreadTS == "":
					d.say("SLACK page      %s", c.Text)
				case c.Method == "chat.postMessage":
					d.say("SLACK   thread  %s", c.Text)
				case c.Method == "chat.update":
					d.say("SLACK edit      %s", c.Text)
				}
			}
			seenCalls = len(calls)
			for _, e := range d.l.All() {
				key := string(e.State) + string(e.Severity) + e.RootCause
				if seenInc[e.ID] != key {
					seenInc[e.ID] = key
					d.say("INCIDENT %-8s %s %s %s: %s", e.State, e.Severity, e.Kind, e.Subject, e.RootCause)
				}
			}
			select {
			case <-ctx.Done():
			case <-time.After(200 * time.Millisecond):
			}
		}
	})
	return func() { cancel(); wg.Wait() }
}

func (d *demo) pause(dur time.Duration) {
	select {
	case <-d.ctx.Done():
	case <-time.After(dur):
	}
}

// waitInc waits for an incident of kind that pred accepts. Giving up is a
// failure of the demo (an outage not paged, not confirmed or not
// resolved), unless the person pressed Ctrl-C: then ok is false and the
// demo ends normally.
func (d *demo) waitInc(what string, kind model.IncidentKind, timeout time.Duration, pred func(incident.Entry) bool) (e incident.Entry, ok bool) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) && d.ctx.Err() == nil {
		for _, e := range d.l.All() {
			if e.Kind == kind && pred(e) {
				return e, true
			}
		}
		d.pause(200 * time.Millisecond)
	}
	if d.ctx.Err() == nil {
		d.t.Errorf("demo: no %s incident: gave up after %v waiting for %s", kind, timeout, what)
	}
	return incident.Entry{}, false
}

func anyIncident(incident.Entry) bool { return true }

// facebook plays Act 1 and reports whether it played to the end.
func (d *demo) facebook() bool {
	l := d.l
	fb := l.NSPrefixes("fb.test")
	d.say("=== Act 1, Facebook 4 Oct 2021: withdraw %v (the covering %v stays) and make fb.test's nameservers unreachable", fb, outagelab.Cover)
	fault := time.Now()
	l.Block(l.NSAddrs("fb.test")...)
	l.Withdraw(fb...)
	if _, ok := d.waitInc("the page", model.IncidentBGPOutage, 20*time.Second, anyIncident); !ok {
		return false
	}
	d.say("paged %v after the withdrawal; resolvers still answer from cache (TTL 20 s)...", time.Since(fault).Round(time.Millisecond))
	if _, ok := d.waitInc("the resolvers to fail", model.IncidentBGPOutage, 60*time.Second, func(e incident.Entry) bool { return len(e.Resolvers) > 0 }); !ok {
		return false
	}
	d.say("confirmed %v after the withdrawal: the resolvers' caches expired and they fail", time.Since(fault).Round(time.Millisecond))
	d.say("re-announcing the routes and lifting the DROP")
	l.Announce(fb...)
	l.Unblock(l.NSAddrs("fb.test")...)
	l.DNS.FlushResolvers()
	return d.resolved("Facebook-style", "the withdrawal", fault, model.IncidentBGPOutage)
}

// slack plays Act 2 and reports whether it played to the end.
func (d *demo) slack() bool {
	d.pause(2 * time.Second)
	d.say("=== Act 2, Slack 30 Sep 2021: slack.test re-signed with a key its DS at the parent does not name")
	fault := time.Now()
	d.l.DNS.BreakDNSKEY("slack.test.")
	if _, ok := d.waitInc("the page", model.IncidentDNSSEC, 30*time.Second, anyIncident); !ok {
		return false
	}
	d.say("paged %v after the break", time.Since(fault).Round(time.Millisecond))
	d.pause(5 * time.Second)
	d.say("restoring the key the DS names")
	d.l.DNS.RestoreDNSKEY("slack.test.")
	d.l.DNS.FlushResolvers()
	return d.resolved("Slack-style", "the break", fault, model.IncidentDNSSEC)
}

// resolved waits for the incident of kind to resolve and keeps it for the
// summary.
func (d *demo) resolved(name, fault string, at time.Time, kind model.IncidentKind) bool {
	e, ok := d.waitInc("the resolve", kind, 60*time.Second, func(e incident.Entry) bool { return e.State == model.StateResolved })
	if ok {
		d.outcomes = append(d.outcomes, outcome{name: name, fault: fault, at: at, inc: e})
	}
	return ok
}

// summary prints what was paged when, how fast, how each outage resolved,
// and where to look now. forward is REACHMON_OUTAGELAB_FORWARD
// ("127.0.0.1:19798=reachmon,127.0.0.1:19090=prometheus").
func (d *demo) summary(forward string) {
	fmt.Printf("=== Summary\n")
	for _, o := range d.outcomes {
		e := o.inc
		story := e.Recovery
		if story == "" {
			story = "(no recovery story)"
		}
		fmt.Printf("  %s outage: %s %s %s\n", o.name, e.Severity, e.Kind, e.Subject)
		fmt.Printf("    paged     %s UTC, %.1f s after %s (detection latency)\n",
			e.Confirmed.UTC().Format("15:04:05"), e.Confirmed.Sub(o.at).Seconds(), o.fault)
		fmt.Printf("    cause     %s\n", e.RootCause)
		fmt.Printf("    resolved  %s UTC, %.1f s after %s: %s\n",
			e.Resolved.UTC().Format("15:04:05"), e.Resolved.Sub(o.at).Seconds(), o.fault, story)
	}
	fmt.Printf("\n=== Open (until Ctrl-C)\n")
	for part := range strings.SplitSeq(forward, ",") {
		addr, name, _ := strings.Cut(part, "=")
		switch name {
		case "reachmon":
			fmt.Printf("  reachmon    http://%s/api/v1/incidents  http://%s/api/v1/status  http://%s/metrics\n", addr, addr, addr)
			fmt.Printf("              go run ./cmd/reachmon incidents -v --url http://%s\n", addr)
		case "prometheus":
			fmt.Printf("  Prometheus  http://%s/  (try reachmon_incidents_open or reachmon_zone_health{health=\"failing\"})\n", addr)
		}
	}
	fmt.Printf("  (Grafana is not part of the demo: dashboards/ holds the dashboards for your own Grafana, with the Prometheus above as data source)\n")
	fmt.Printf("Ctrl-C stops the lab and removes the namespace.\n")
}
