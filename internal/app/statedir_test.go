package app

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/reachmon/reachmon/internal/config"
	"github.com/reachmon/reachmon/internal/incident"
	"github.com/reachmon/reachmon/internal/model"
	"github.com/reachmon/reachmon/internal/notify"
)

// recordingNotifier delivers nothing and remembers what it was asked.
type recordingNotifier struct {
	mu   sync.Mutex
	sent []notify.Delivery
}

func (r *recordingNotifier) Deliver(_ context.Context, d notify.Delivery) (notify.Receipt, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sent = append(r.sent, d)
	return notify.Receipt{}, nil
}

func (r *recordingNotifier) deliveries() []notify.Delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]notify.Delivery(nil), r.sent...)
}

// What testdata/state-v1 holds (see
// TestStateDirFromBeforeOneDeliveryOwner). It was written by the code of
// commit da00881 (incident.Store and notify.Dispatcher wired as app.go
// wired them, a notifier answering each open with a new thread).
const (
	v1OpenID     = "20261201T090000Z-aaaaaa"
	v1OpenThread = "C0123ABC/1764579700.000102"
	v1DoneID     = "20261201T085000Z-bbbbbb"
	v1DoneThread = "C0123ABC/1764579700.000101"
)

// copyStateV1 copies testdata/state-v1 into a temporary state directory.
func copyStateV1(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "state")
	if err := os.CopyFS(dir, os.DirFS("testdata/state-v1")); err != nil {
		t.Fatal(err)
	}
	return dir
}

// checkRestoredV1 checks the store shows both incidents of state-v1 with
// the Slack thread each was paged in.
func checkRestoredV1(t *testing.T, store *incident.Store) {
	t.Helper()
	if aside := store.SetAside(); len(aside) != 0 {
		t.Fatalf("files of the previous format set aside: %v", aside)
	}
	want := map[string]struct {
		state    model.IncidentState
		thread   string
		delivery model.ChangeType
	}{
		v1OpenID: {model.StateOpen, v1OpenThread, model.ChangeOpen},
		v1DoneID: {model.StateResolved, v1DoneThread, model.ChangeResolve},
	}
	recs := store.Records()
	if len(recs) != len(want) {
		t.Fatalf("%d incidents restored, want %d: %+v", len(recs), len(want), recs)
	}
	for _, r := range recs {
		w, ok := want[r.Incident.ID]
		if !ok || r.Incident.State != w.state || r.Notify.Ref != w.thread || r.Notify.Delivered != w.delivery {
			t.Errorf("restored %s: state %s, thread %q, delivered %q; want %+v", r.Incident.ID, r.Incident.State, r.Notify.Ref, r.Notify.Delivered, w)
		}
	}
	if open := store.Incidents(); open[len(open)-1].ID != v1OpenID || len(open[len(open)-1].Evidence) != 2 {
		t.Errorf("open incident restored as %+v", open[len(open)-1])
	}
}

// TestStateDirFromBeforeOneDeliveryOwner loads testdata/state-v1, a state
// directory written by the daemon before the dispatcher became the one
// owner of delivery state (commit da00881: incidents.json still mirrors
// each incident's delivery state): an open incident paged in a Slack
// thread with an update waiting in the outbox, and a resolved one. A
// restart must lose none of it: the open incident, the thread it was
// paged in, the outbox entry, which then goes to that thread.
func TestStateDirFromBeforeOneDeliveryOwner(t *testing.T) {
	dir := copyStateV1(t)
	cfg := config.SlackConfig{Channel: "#alerts", MinUpdateInterval: config.Duration{Duration: time.Nanosecond}}
	sent := &recordingNotifier{}
	d, err := notify.New(cfg, dir, sent, notify.Options{})
	if err != nil {
		t.Fatal(err)
	}
	store, err := openIncidents(dir, d, newTestLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	checkRestoredV1(t, store)
	if n := d.Pending(); n != 1 {
		t.Fatalf("%d outbox entries restored, want the 1 waiting update", n)
	}

	// The waiting update goes to the thread of the page.
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	deadline := time.Now().Add(10 * time.Second)
	for d.Pending() > 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	got := sent.deliveries()
	if len(got) != 1 || got[0].Kind != notify.KindUpdate || got[0].Ref != v1OpenThread || got[0].Incident.ID != v1OpenID {
		t.Fatalf("deliveries after the restart: %+v, want one update in thread %s", got, v1OpenThread)
	}

	// The next save of the incident store drops the mirrored copy; the
	// delivery state is still shown, from the dispatcher.
	upd := got[0].Incident
	upd.Updated = upd.Updated.Add(time.Minute)
	if err := store.Apply([]model.IncidentChange{{Type: model.ChangeUpdate, Incident: upd}}); err != nil {
		t.Fatal(err)
	}
	store.Flush()
	b, err := os.ReadFile(filepath.Join(dir, "incidents", "incidents.json"))
	if err != nil || bytes.Contains(b, []byte(`"notify"`)) {
		t.Fatalf("incidents.json still mirrors delivery state (%v):\n%s", err, b)
	}
	for _, r := range store.Records() {
		if r.Incident.ID == v1OpenID && (r.Notify.Ref != v1OpenThread || r.Notify.Delivered != model.ChangeUpdate) {
			t.Errorf("after the update: thread %q delivered %q", r.Notify.Ref, r.Notify.Delivered)
		}
	}
}

// TestStateDirFromBeforeNotificationsOff: the same directory opened with
// notifications off still shows the threads incidents were paged in, and
// nothing in the notification state is changed.
func TestStateDirFromBeforeNotificationsOff(t *testing.T) {
	dir := copyStateV1(t)
	saved, err := notify.ReadDelivered(dir)
	if err != nil {
		t.Fatal(err)
	}
	store, err := openIncidents(dir, saved, newTestLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	checkRestoredV1(t, store)
	for _, f := range []string{"notify/state.json", "notify/outbox/00000000000000000004.json"} {
		want, _ := os.ReadFile(filepath.Join("testdata/state-v1", f))
		if got, err := os.ReadFile(filepath.Join(dir, f)); err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s changed with notifications off (%v)", f, err)
		}
	}
}
