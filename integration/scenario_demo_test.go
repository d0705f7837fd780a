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
// timeline, the incidents and the Slack messages as they arrive; then
// reachmon and Prometheus keep running (forwarded to host loopback) until
// Ctrl-C, and everything is cleaned up. Skipped unless REACHMON_DEMO=1.
func TestDemo(t *testing.T) {
	if os.Getenv("REACHMON_DEMO") == "" {
		t.Skip("make demo runs this (REACHMON_DEMO=1)")
	}
	if !outagelab.Enter(t) {
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	say := func(format string, args ...any) {
		fmt.Printf("%s  %s\n", time.Now().Format("15:04:05.000"), fmt.Sprintf(format, args...))
	}
	say("starting the lab: NSD + 3 validating Unbound + 2 BIRD peers + fakeslack + Prometheus + reachmon, in a network namespace")
	l := outagelab.Start(t, outagelab.Options{Zones: []string{"fb.test.", "slack.test.", "other.test."}, TTL: 20 * time.Second, Prometheus: true})
	l.ServeSockets()
	say("lab ready: zones fb.test, slack.test, other.test; every check healthy, BGP sessions synced")

	// Print every Slack call and incident change as it happens.
	var wg sync.WaitGroup
	watch, endWatch := context.WithCancel(context.Background())
	wg.Go(func() {
		seenCalls := 0
		seenInc := map[string]string{}
		for watch.Err() == nil {
			calls := l.Slack.Calls()
			for _, c := range calls[seenCalls:] {
				switch {
				case c.Method == "chat.postMessage" && c.ThreadTS == "":
					say("SLACK page      %s", c.Text)
				case c.Method == "chat.postMessage":
					say("SLACK   thread  %s", c.Text)
				case c.Method == "chat.update":
					say("SLACK edit      %s", c.Text)
				}
			}
			seenCalls = len(calls)
			for _, e := range l.All() {
				key := string(e.State) + string(e.Severity) + e.RootCause
				if seenInc[e.ID] != key {
					seenInc[e.ID] = key
					say("INCIDENT %-8s %s %s %s: %s", e.State, e.Severity, e.Kind, e.Subject, e.RootCause)
				}
			}
			select {
			case <-watch.Done():
			case <-time.After(200 * time.Millisecond):
			}
		}
	})
	defer func() { endWatch(); wg.Wait() }()
	pause := func(d time.Duration) {
		select {
		case <-ctx.Done():
		case <-time.After(d):
		}
	}
	waitInc := func(what string, timeout time.Duration, pred func(incident.Entry) bool) bool {
		deadline := time.Now().Add(timeout)
		for time.Now().Before(deadline) && ctx.Err() == nil {
			for _, e := range l.All() {
				if pred(e) {
					return true
				}
			}
			pause(200 * time.Millisecond)
		}
		say("(gave up waiting for %s)", what)
		return false
	}

	fb := l.NSPrefixes("fb.test")
	say("=== Act 1, Facebook 4 Oct 2021: withdraw %v (the covering %v stays) and make fb.test's nameservers unreachable", fb, outagelab.Cover)
	fault := time.Now()
	l.Block(l.NSAddrs("fb.test")...)
	l.Withdraw(fb...)
	waitInc("the page", 20*time.Second, func(e incident.Entry) bool { return e.Kind == model.IncidentBGPOutage })
	say("paged %v after the withdrawal; resolvers still answer from cache (TTL 20 s)...", time.Since(fault).Round(time.Millisecond))
	waitInc("the resolvers to fail", 60*time.Second, func(e incident.Entry) bool {
		return e.Kind == model.IncidentBGPOutage && len(e.Resolvers) > 0
	})
	say("confirmed %v after the withdrawal: the resolvers' caches expired and they fail", time.Since(fault).Round(time.Millisecond))
	say("re-announcing the routes and lifting the DROP")
	l.Announce(fb...)
	l.Unblock(l.NSAddrs("fb.test")...)
	l.DNS.FlushResolvers()
	waitInc("the resolve", 60*time.Second, func(e incident.Entry) bool {
		return e.Kind == model.IncidentBGPOutage && e.State == model.StateResolved
	})
	pause(2 * time.Second)

	say("=== Act 2, Slack 30 Sep 2021: slack.test re-signed with a key its DS at the parent does not name")
	fault = time.Now()
	l.DNS.BreakDNSKEY("slack.test.")
	waitInc("the page", 30*time.Second, func(e incident.Entry) bool { return e.Kind == model.IncidentDNSSEC })
	say("paged %v after the break", time.Since(fault).Round(time.Millisecond))
	pause(5 * time.Second)
	say("restoring the key the DS names")
	l.DNS.RestoreDNSKEY("slack.test.")
	l.DNS.FlushResolvers()
	waitInc("the resolve", 60*time.Second, func(e incident.Entry) bool {
		return e.Kind == model.IncidentDNSSEC && e.State == model.StateResolved
	})
	pause(2 * time.Second)
	endWatch()
	wg.Wait()

	out, _ := exec.Command(os.Getenv("REACHMON_OUTAGELAB_BIN"), "incidents", "-v", "--url", l.URL).CombinedOutput()
	fmt.Printf("\n=== reachmon incidents -v\n%s\n", out)
	fmt.Printf("=== Slack, as posted\n%s\n", l.SlackLog())
	fw := os.Getenv("REACHMON_OUTAGELAB_FORWARD")
	fmt.Printf("=== still running until Ctrl-C: reachmon and Prometheus (forwarded from the namespace: %s)\n", strings.ReplaceAll(fw, ",", ", "))
	fmt.Printf("    e.g. curl -s http://%s/api/v1/status | jq .\n", strings.SplitN(strings.SplitN(fw, ",", 2)[0], "=", 2)[0])
	<-ctx.Done()
	say("interrupted: stopping everything")
}
