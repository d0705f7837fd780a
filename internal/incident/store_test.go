package incident

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/reachmon/reachmon/internal/config"
	"github.com/reachmon/reachmon/internal/evaluate"
	"github.com/reachmon/reachmon/internal/model"
)

var t0 = time.Date(2021, 9, 30, 15, 0, 0, 0, time.UTC)

var resolvers = []string{"cloudflare", "google", "quad9"}

// round feeds one probe round for slack.com: validating resolvers
// SERVFAIL with CD=1 succeeding (failing) or NOERROR, the authoritative
// server answering.
func round(e *evaluate.Evaluator, now time.Time, failing bool) []model.IncidentChange {
	var out []model.IncidentChange
	for _, r := range resolvers {
		o := model.Observation{Time: now, Target: "slack.com", Name: "slack.com.", Type: "A",
			Server: model.Server{Name: r, Kind: model.KindResolver, Validating: true}, Rcode: "NOERROR", MinTTL: 60,
			Answers: []string{"slack.com. IN A 54.230.1.1"}}
		if failing {
			o.Rcode, o.Answers = "SERVFAIL", nil
			o.CDRetry = &model.CDRetry{Rcode: "NOERROR", Answers: 1, Succeeded: true}
		}
		out = append(out, e.Apply(o)...)
	}
	out = append(out, e.Apply(model.Observation{Time: now, Target: "slack.com", Name: "slack.com.", Type: "A",
		Server: model.Server{Name: "ns-1.awsdns.com", Kind: model.KindAuthoritative, Addr: "205.251.192.1:53"},
		Rcode:  "NOERROR", AA: true, Answers: []string{"slack.com. IN A 54.230.1.1"}})...)
	return append(out, e.Tick(now)...)
}

func targets() evaluate.Targets {
	return evaluate.Targets{Vantage: "test", Zones: []evaluate.Zone{{Name: "slack.com"}},
		Resolvers: []evaluate.Resolver{{Name: "cloudflare", Validating: true}, {Name: "google", Validating: true}, {Name: "quad9", Validating: true}}}
}

// deliveries is a DeliveryState the test fills in: what the notification
// dispatcher would report.
type deliveries map[string]model.NotifyState

func (d deliveries) Delivered(id string) (model.NotifyState, bool) {
	n, ok := d[id]
	return n, ok
}

func TestRestartMidIncident(t *testing.T) {
	dir := t.TempDir()
	now := t0
	clock := func() time.Time { return now }
	delivered := deliveries{}
	st, err := Open(dir, Options{Now: clock, Delivery: delivered})
	if err != nil {
		t.Fatal(err)
	}
	e := evaluate.New(config.DefaultEvaluate(), targets())
	var opened model.Incident
	for range 10 {
		now = now.Add(30 * time.Second)
		ch := round(e, now, true)
		for _, c := range ch {
			if c.Type == model.ChangeOpen {
				opened = c.Incident
			}
		}
		if err := st.Apply(ch); err != nil {
			t.Fatal(err)
		}
	}
	if opened.ID == "" {
		t.Fatal("setup: no incident opened")
	}
	// The notifier paged it: the dispatcher keeps that, not the store.
	delivered[opened.ID] = model.NotifyState{Ref: "C1/1633000000.0001", Delivered: model.ChangeOpen, FirstSent: now, LastSent: now}
	st.Flush()
	if b, err := os.ReadFile(filepath.Join(dir, FileName)); err != nil || bytes.Contains(b, []byte(`"notify"`)) {
		t.Fatalf("the store file mirrors delivery state (%v):\n%s", err, b)
	}

	// Restart: a new store and evaluator from the same directory.
	st2, err := Open(dir, Options{Now: clock, Delivery: delivered})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st2.Flush) // its writes land before the directory is removed
	if n := len(st2.SetAside()); n != 0 {
		t.Fatalf("a clean store reported %d problems", n)
	}
	e2 := evaluate.New(config.DefaultEvaluate(), targets())
	e2.Restore(st2.Incidents())
	if open := e2.Open(); len(open) != 1 || open[0].ID != opened.ID {
		t.Fatalf("restored %+v", open)
	}
	if recs := st2.Records(); len(recs) != 1 || recs[0].Notify.Delivered != model.ChangeOpen || recs[0].Notify.Ref == "" {
		t.Fatalf("delivery state not shown with the incident: %+v", recs)
	}
	var changes []model.IncidentChange
	for range 10 {
		now = now.Add(30 * time.Second)
		changes = append(changes, round(e2, now, true)...)
	}
	for _, c := range changes {
		if c.Type == model.ChangeOpen {
			t.Fatalf("the restart opened (paged) again: %+v", c)
		}
	}
	for range 10 {
		now = now.Add(30 * time.Second)
		ch := round(e2, now, false)
		changes = append(changes, ch...)
		if err := st2.Apply(ch); err != nil {
			t.Fatal(err)
		}
	}
	var resolved bool
	for _, c := range changes {
		resolved = resolved || (c.Type == model.ChangeResolve && c.Incident.ID == opened.ID)
	}
	if !resolved {
		t.Fatal("restored incident never resolved")
	}
	recs := st2.Records()
	if len(recs) != 1 || recs[0].Incident.IsOpen() || recs[0].Notify.Ref == "" {
		t.Fatalf("store after resolve: %+v", recs)
	}
}

func TestCorruptFileSetAside(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, FileName)
	if err := os.WriteFile(path, []byte(`{"schema":"reachmon.incidents/v1","records":[{"incident":`), 0o640); err != nil {
		t.Fatal(err)
	}
	st, err := Open(dir, Options{Now: func() time.Time { return t0 }})
	if err != nil {
		t.Fatal(err)
	}
	aside := st.SetAside()
	if len(aside) != 1 || !strings.Contains(aside[0], "moved to") {
		t.Fatalf("corrupt file not reported: %v", aside)
	}
	matches, _ := filepath.Glob(path + ".corrupt-*")
	if len(matches) != 1 {
		t.Fatalf("corrupt file not kept aside: %v", matches)
	}
	if b, _ := os.ReadFile(matches[0]); !bytes.Contains(b, []byte(`"records"`)) {
		t.Fatalf("the set-aside file lost its content")
	}
	// The store works.
	inc := model.Incident{ID: "x", Kind: model.IncidentFeedLost, State: model.StateOpen, Subject: "p", Opened: t0}
	if err := st.Apply([]model.IncidentChange{{Type: model.ChangeOpen, Incident: inc}}); err != nil {
		t.Fatal(err)
	}
	st.Flush()
	st2, err := Open(dir, Options{})
	if err != nil || len(st2.Incidents()) != 1 || len(st2.SetAside()) != 0 {
		t.Fatalf("reopen: %v %v %v", err, st2.Incidents(), st2.SetAside())
	}
}

func TestWrongSchemaSetAside(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, FileName), []byte(`{"schema":"other/v9","records":[]}`), 0o640); err != nil {
		t.Fatal(err)
	}
	st, err := Open(dir, Options{})
	if err != nil || len(st.SetAside()) != 1 {
		t.Fatalf("wrong schema not set aside: %v %v", err, st.SetAside())
	}
}

func TestCrashMidWriteLeavesReadableStore(t *testing.T) {
	dir := t.TempDir()
	st, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	inc := model.Incident{ID: "a", Kind: model.IncidentHijack, State: model.StateOpen, Subject: "1.1.1.1/32", Opened: t0}
	if err := st.Apply([]model.IncidentChange{{Type: model.ChangeOpen, Incident: inc}}); err != nil {
		t.Fatal(err)
	}
	st.Flush()
	// A crash during the next write leaves a torn temporary file; the
	// rename never happened.
	tmp := filepath.Join(dir, FileName+".tmp-123456")
	if err := os.WriteFile(tmp, []byte(`{"schema":"reachmon.inci`), 0o640); err != nil {
		t.Fatal(err)
	}
	st2, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := st2.Incidents(); len(got) != 1 || got[0].ID != "a" || len(st2.SetAside()) != 0 {
		t.Fatalf("store after a crash: %+v (set aside %v)", got, st2.SetAside())
	}
	if _, err := os.Stat(tmp); !os.IsNotExist(err) {
		t.Errorf("temporary file left behind: %v", err)
	}
}

func TestPrune(t *testing.T) {
	now := t0
	st, err := Open(t.TempDir(), Options{Now: func() time.Time { return now }, KeepResolved: time.Hour, MaxResolved: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Flush)
	var ch []model.IncidentChange
	for i, id := range []string{"a", "b", "c", "d"} {
		ch = append(ch, model.IncidentChange{Type: model.ChangeResolve, Incident: model.Incident{ID: id, State: model.StateResolved,
			Opened: t0, Resolved: t0.Add(time.Duration(i) * time.Minute)}})
	}
	ch = append(ch, model.IncidentChange{Type: model.ChangeOpen, Incident: model.Incident{ID: "open", State: model.StateOpen, Opened: t0.Add(-48 * time.Hour)}})
	if err := st.Apply(ch); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, i := range st.Incidents() {
		ids = append(ids, i.ID)
	}
	if strings.Join(ids, ",") != "open,c,d" {
		t.Fatalf("kept %v, want the open one and the 2 latest resolved", ids)
	}
	now = now.Add(2 * time.Hour)
	if err := st.Apply(ch[4:]); err != nil {
		t.Fatal(err)
	}
	if n := len(st.Incidents()); n != 1 {
		t.Fatalf("resolved incidents outlived keep_resolved: %d left", n)
	}
}
