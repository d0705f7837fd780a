package notify_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/reachmon/reachmon/internal/model"
	"github.com/reachmon/reachmon/internal/notify"
	"github.com/reachmon/reachmon/internal/notify/notifytest"
)

// incidentAt is the incident "s1" as the evaluator reports it at t0+at,
// with one evidence item per change so far.
func incidentAt(at time.Duration, sev model.Severity, texts ...string) model.Incident {
	inc := model.Incident{ID: "s1", Kind: model.IncidentBGPOutage, Severity: sev, State: model.StateOpen,
		Subject: "fb.test", RootCause: "The routes to every nameserver of fb.test were withdrawn.",
		Opened: t0, Confirmed: t0, Updated: t0.Add(at)}
	for i, x := range texts {
		inc.Evidence = append(inc.Evidence, model.EvidenceItem{Time: t0.Add(time.Duration(i) * time.Second), Text: x})
	}
	return inc
}

func updateOf(inc model.Incident, prev model.Severity, material string) model.IncidentChange {
	return model.IncidentChange{Type: model.ChangeUpdate, Incident: inc, Reason: strings.TrimPrefix(material+"; evidence", "; "),
		Material: material, PrevKind: inc.Kind, PrevSeverity: prev}
}

// held waits until the dispatcher sleeps on a timer with n entries left
// (a held update) and nothing else to do.
func held(t *testing.T, d *notify.Dispatcher, clk *notifytest.Clock, n int) {
	t.Helper()
	waitFor(t, nil, "the update to be held", func() bool { return d.Pending() == n && clk.Waiters() == 1 })
}

// TestUpdatesAreSpacedAndFolded: a material update sooner than the
// minimum interval after the incident's last message (here the page) is
// held; what follows (a record-only change, more resolvers, recovery
// beginning) folds into it, sent as one message when the interval ends; a
// severity change is never held; a resolve is never held and replaces a
// held update.
func TestUpdatesAreSpacedAndFolded(t *testing.T) {
	clk := notifytest.NewClock(t0)
	fn := &fakeNotifier{}
	d, err := notify.New(routedConfig(), t.TempDir(), fn, notify.Options{Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	run(t, d)
	sent := func(n int) {
		t.Helper()
		waitFor(t, nil, "delivery", func() bool { return len(fn.deliveries()) == n && d.Pending() == 0 })
	}
	w := model.SeverityWarning
	texts := []string{"withdrawn"}
	d.Submit(model.IncidentChange{Type: model.ChangeOpen, Incident: incidentAt(0, w, texts...), Reason: "opened", Material: "opened"})
	sent(1)

	// 1 s: a prefix more; 6 s: impact began: held until 60 s.
	clk.Advance(time.Second)
	texts = append(texts, "198.18.10.0/23 withdrawn")
	d.Submit(updateOf(incidentAt(time.Second, w, texts...), w, "newly affected: prefix 198.18.10.0/23"))
	held(t, d, clk, 1)
	clk.Advance(5 * time.Second)
	texts = append(texts, "resolver r0 SERVFAIL")
	d.Submit(updateOf(incidentAt(6*time.Second, w, texts...), w, "impact began; newly affected: resolver r0"))
	// 11 s and 21 s: a record-only change and recovery beginning fold in.
	clk.Advance(5 * time.Second)
	texts = append(texts, "time to impact moved")
	d.Submit(updateOf(incidentAt(11*time.Second, w, texts...), w, ""))
	clk.Advance(10 * time.Second)
	texts = append(texts, "recovery: 198.18.10.0/24 is seen again")
	d.Submit(updateOf(incidentAt(21*time.Second, w, texts...), w, "recovery began: routes re-announced 18:00:21"))
	if d.Pending() != 1 {
		t.Fatalf("pending %d, want the held update alone (the others folded into it)", d.Pending())
	}
	clk.Advance(38 * time.Second) // 59 s
	time.Sleep(20 * time.Millisecond)
	if n := len(fn.deliveries()); n != 1 {
		t.Fatalf("%d deliveries 59 s after the page, want 1", n)
	}
	clk.Advance(time.Second) // 60 s
	sent(2)
	got := fn.deliveries()[1]
	for _, want := range []string{"newly affected: prefix 198.18.10.0/23", "impact began", "newly affected: resolver r0", "recovery began: routes re-announced"} {
		if got.Kind != notify.KindUpdate || !strings.Contains(got.Reason, want) {
			t.Errorf("the folded update (%s) lacks %q: %q", got.Kind, want, got.Reason)
		}
	}
	if strings.Contains(got.Reason, "evidence") || len(got.Incident.Evidence) != 5 || len(got.NewEvidence) != 4 {
		t.Errorf("the folded update: %q, %d evidence items (%d new), want the latest incident: 5 (4 new)",
			got.Reason, len(got.Incident.Evidence), len(got.NewEvidence))
	}

	// 66 s: severity rises: never held.
	clk.Advance(6 * time.Second)
	c := model.SeverityCritical
	texts = append(texts, "every resolver fails")
	d.Submit(updateOf(incidentAt(66*time.Second, c, texts...), w, "severity warning -> critical"))
	sent(3)

	// 71 s: held until 126 s; 81 s: the resolve goes out at once and
	// replaces it.
	clk.Advance(5 * time.Second)
	texts = append(texts, "recovery: resolver r0 answers again")
	d.Submit(updateOf(incidentAt(71*time.Second, c, texts...), c, "recovery began: resolver r0 answers again 18:01:11"))
	held(t, d, clk, 1)
	clk.Advance(10 * time.Second)
	res := incidentAt(81*time.Second, c, append(texts, "resolved: condition cleared")...)
	res.State, res.Resolved = model.StateResolved, t0.Add(81*time.Second)
	d.Submit(model.IncidentChange{Type: model.ChangeResolve, Incident: res, Reason: "condition cleared", Material: "resolved: condition cleared"})
	sent(4)
	clk.Advance(2 * time.Minute)
	time.Sleep(20 * time.Millisecond)
	all := fn.deliveries()
	if len(all) != 4 || all[3].Kind != notify.KindResolve {
		t.Fatalf("deliveries after the resolve: %d, last %s", len(all), all[len(all)-1].Kind)
	}
	if len(all[3].NewEvidence) != 2 {
		t.Errorf("the resolve shows %d new evidence items, want 2 (the held update's and its own)", len(all[3].NewEvidence))
	}
	var kinds []notify.Kind
	for _, dl := range all {
		kinds = append(kinds, dl.Kind)
	}
	t.Logf("deliveries: %v", kinds)
}

// TestHeldUpdateSurvivesRestart: a held update is in the outbox with its
// time; a new process sends it when the interval ends, not before.
func TestHeldUpdateSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	clk := notifytest.NewClock(t0)
	fn := &fakeNotifier{}
	d, err := notify.New(routedConfig(), dir, fn, notify.Options{Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	w := model.SeverityWarning
	d.Submit(model.IncidentChange{Type: model.ChangeOpen, Incident: incidentAt(0, w, "a"), Material: "opened"})
	waitFor(t, nil, "the page", func() bool { return len(fn.deliveries()) == 1 && d.Pending() == 0 })
	clk.Advance(10 * time.Second)
	d.Submit(updateOf(incidentAt(10*time.Second, w, "a", "b"), w, "newly affected: resolver r1"))
	held(t, d, clk, 1)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	clk2 := notifytest.NewClock(t0.Add(30 * time.Second))
	fn2 := &fakeNotifier{}
	d2, err := notify.New(routedConfig(), dir, fn2, notify.Options{Clock: clk2})
	if err != nil {
		t.Fatal(err)
	}
	run(t, d2)
	held(t, d2, clk2, 1)
	if n := len(fn2.deliveries()); n != 0 {
		t.Fatalf("the held update went out %v after a restart, before its time", clk2.Now().Sub(t0))
	}
	clk2.Advance(29 * time.Second)
	time.Sleep(20 * time.Millisecond)
	if n := len(fn2.deliveries()); n != 0 {
		t.Fatalf("the held update went out 59 s after the page")
	}
	clk2.Advance(time.Second)
	waitFor(t, nil, "the held update", func() bool { return len(fn2.deliveries()) == 1 && d2.Pending() == 0 })
	if got := fn2.deliveries()[0]; got.Kind != notify.KindUpdate || got.Reason != "newly affected: resolver r1" || got.Now.Before(t0.Add(time.Minute)) {
		t.Errorf("after the restart: %s %q at %v", got.Kind, got.Reason, got.Now.Sub(t0))
	}
}

// TestSeverityUpdateTakesHeldUpdates: a severity change goes out at once
// and carries the held update of its incident, including what was folded
// into it while the severity change was being retried: the latest
// incident and every cause, one message.
func TestSeverityUpdateTakesHeldUpdates(t *testing.T) {
	clk := notifytest.NewClock(t0)
	fail := &notify.Error{Code: "http_503", Retry: true, Msg: "slack chat.postMessage: HTTP 503"}
	fn := &fakeNotifier{script: map[string][]error{"#a": {nil, fail}}}
	d, err := notify.New(routedConfig(), t.TempDir(), fn, notify.Options{Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	run(t, d)
	w, c := model.SeverityWarning, model.SeverityCritical
	d.Submit(model.IncidentChange{Type: model.ChangeOpen, Incident: incidentAt(0, w, "a"), Material: "opened"})
	waitFor(t, nil, "the page", func() bool { return len(fn.deliveries()) == 1 && d.Pending() == 0 })
	clk.Advance(2 * time.Second)
	d.Submit(updateOf(incidentAt(2*time.Second, w, "a", "b"), w, "newly affected: resolver r1"))
	held(t, d, clk, 1)
	clk.Advance(time.Second)
	d.Submit(updateOf(incidentAt(3*time.Second, c, "a", "b", "c"), w, "severity warning -> critical"))
	// The first attempt fails: the severity change waits for its retry
	// (the dispatcher sleeps until the sooner of it and the held update).
	waitFor(t, nil, "the failed attempt", func() bool { return len(fn.deliveries()) == 2 && clk.Waiters() == 1 })
	d.Submit(updateOf(incidentAt(4*time.Second, c, "a", "b", "c", "d"), c, "newly affected: resolver r2"))
	if !clk.AdvanceToNext() || clk.Now().Sub(t0) > 5*time.Second {
		t.Fatalf("the retry is not the next timer (clock at %v)", clk.Now().Sub(t0))
	}
	waitFor(t, nil, "the retry", func() bool { return len(fn.deliveries()) == 3 && d.Pending() == 0 })
	got := fn.deliveries()[2]
	for _, want := range []string{"severity warning -> critical", "newly affected: resolver r1", "newly affected: resolver r2"} {
		if !strings.Contains(got.Reason, want) {
			t.Errorf("the severity change lacks %q: %q", want, got.Reason)
		}
	}
	if got.Kind != notify.KindUpdate || len(got.Incident.Evidence) != 4 || got.Incident.Severity != c {
		t.Errorf("delivered %s with %d evidence items (%s), want the latest incident: 4, critical", got.Kind, len(got.Incident.Evidence), got.Incident.Severity)
	}
	clk.Advance(2 * time.Minute)
	time.Sleep(20 * time.Millisecond)
	if n := len(fn.deliveries()); n != 3 {
		t.Errorf("%d deliveries: the held update went out after all", n)
	}
}
