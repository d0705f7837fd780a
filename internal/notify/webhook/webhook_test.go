package webhook_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/reachmon/reachmon/internal/config"
	"github.com/reachmon/reachmon/internal/incident"
	"github.com/reachmon/reachmon/internal/model"
	"github.com/reachmon/reachmon/internal/notify"
	"github.com/reachmon/reachmon/internal/notify/notifytest"
	"github.com/reachmon/reachmon/internal/notify/webhook"
)

var t0 = time.Date(2024, 6, 27, 18, 0, 0, 0, time.UTC)

const secret = "hmac-key-for-tests"

type request struct {
	body      []byte
	signature string
	delivery  string
}

// receiver is a webhook receiver that verifies signatures as the
// documentation tells receivers to, and answers the scripted statuses.
type receiver struct {
	mu      sync.Mutex
	got     []request
	script  []int
	retryIn string
	badSig  int
	srv     *httptest.Server
}

func newReceiver(t *testing.T, script ...int) *receiver {
	r := &receiver{script: script}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		sig := req.Header.Get(webhook.SignatureHeader)
		r.mu.Lock()
		defer r.mu.Unlock()
		if !webhook.Verify([]byte(secret), body, sig) {
			r.badSig++
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		r.got = append(r.got, request{body: body, signature: sig, delivery: req.Header.Get(webhook.DeliveryHeader)})
		status := http.StatusNoContent
		if len(r.script) > 0 {
			status, r.script = r.script[0], r.script[1:]
		}
		if status == http.StatusTooManyRequests {
			w.Header().Set("Retry-After", r.retryIn)
		}
		w.WriteHeader(status)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) requests() []request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]request(nil), r.got...)
}

func inc() model.Incident {
	return model.Incident{
		ID: "20240627T180000Z-3fa2c1", Kind: model.IncidentAuthOutage, Severity: model.SeverityCritical,
		State: model.StateOpen, SubjectKind: model.SubjectZone, Subject: "example.com",
		Opened: t0, Confirmed: t0, Updated: t0, RootCause: "every authoritative server of example.com times out",
		Evidence: []model.EvidenceItem{{Time: t0, Text: "ns1.example.com timeout"}},
	}
}

func TestDocumentExactAndSigned(t *testing.T) {
	t.Setenv("REACHMON_TEST_WEBHOOK_SECRET", secret)
	rc := newReceiver(t)
	cfg := config.WebhookConfig{Name: "bridge", URL: rc.srv.URL, SecretEnv: "REACHMON_TEST_WEBHOOK_SECRET"}
	n, err := webhook.New(cfg, webhook.Options{Vantage: "fra1", Entry: func(i model.Incident) incident.Entry {
		return incident.NewEntry(i, model.NotifyState{Delivered: model.ChangeOpen, FirstSent: t0, LastSent: t0, Attempts: 1})
	}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.Deliver(context.Background(), notify.Delivery{Key: "k#1", Kind: notify.KindOpen, Incident: inc(), Reason: "first notification", Now: t0.Add(time.Second)}); err != nil {
		t.Fatal(err)
	}
	got := rc.requests()
	if len(got) != 1 || rc.badSig != 0 {
		t.Fatalf("%d requests, %d with a bad signature", len(got), rc.badSig)
	}
	// The incident is rendered exactly as /api/v1/incidents renders it.
	entry, _ := json.Marshal(incident.NewEntry(inc(), model.NotifyState{Delivered: model.ChangeOpen, FirstSent: t0, LastSent: t0, Attempts: 1}))
	want := `{"schema":"reachmon.webhook/v1","change":"open","reason":"first notification","sent_at":"2024-06-27T18:00:01Z","vantage":"fra1","incident":` + string(entry) + `}`
	if string(got[0].body) != want {
		t.Errorf("body\n got %s\nwant %s", got[0].body, want)
	}
	if got[0].signature != webhook.Sign([]byte(secret), got[0].body) || got[0].signature[:7] != "sha256=" {
		t.Errorf("signature %q", got[0].signature)
	}
	if got[0].delivery != "k#1" {
		t.Errorf("delivery header %q", got[0].delivery)
	}
	if webhook.Verify([]byte("another key"), got[0].body, got[0].signature) {
		t.Error("Verify accepted another key")
	}
	// A known vector: what a receiver in any language computes.
	if s := webhook.Sign([]byte("key"), []byte("The quick brown fox jumps over the lazy dog")); s != "sha256=f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8" {
		t.Errorf("Sign = %s", s)
	}
}

func TestNoSecret(t *testing.T) {
	_, err := webhook.New(config.WebhookConfig{Name: "x", URL: "http://127.0.0.1:1", SecretEnv: "REACHMON_TEST_UNSET_SECRET"}, webhook.Options{})
	if err == nil {
		t.Fatal("New without the secret's variable set succeeded")
	}
}

// Through the dispatcher: a 503 and a 429 with Retry-After are retried
// (through the outbox), a 400 is rejected and not retried.
func TestRetries(t *testing.T) {
	t.Setenv("REACHMON_TEST_WEBHOOK_SECRET", secret)
	rc := newReceiver(t, http.StatusServiceUnavailable, http.StatusTooManyRequests, http.StatusOK, http.StatusBadRequest)
	rc.retryIn = "30"
	cfg := config.WebhookConfig{Name: "bridge", URL: rc.srv.URL, SecretEnv: "REACHMON_TEST_WEBHOOK_SECRET"}
	n, err := webhook.New(cfg, webhook.Options{Vantage: "fra1"})
	if err != nil {
		t.Fatal(err)
	}
	clk := notifytest.NewClock(t0)
	d, err := notify.NewPolicy(webhook.Policy(cfg), t.TempDir(), n, notify.Options{Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()
	d.Submit(model.IncidentChange{Type: model.ChangeOpen, Incident: inc()})
	waitFor(t, clk, "delivery after a 503 and a 429", func() bool { return len(rc.requests()) == 3 && d.Pending() == 0 })
	reqs := rc.requests()
	if reqs[0].delivery != reqs[2].delivery {
		t.Errorf("retries carry other delivery IDs: %q, %q", reqs[0].delivery, reqs[2].delivery)
	}
	// The 429 asked for 30s: the third attempt is not earlier.
	if st, ok := d.Delivered(inc().ID); !ok || st.Attempts != 3 || st.FirstSent.Sub(t0) < 30*time.Second {
		t.Errorf("delivered %+v", st)
	}
	r := inc()
	r.State, r.Resolved = model.StateResolved, clk.Now()
	d.Submit(model.IncidentChange{Type: model.ChangeResolve, Incident: r})
	waitFor(t, clk, "the rejected resolve", func() bool { return len(rc.requests()) == 4 && d.Pending() == 0 })
	if err := d.Ready(); err == nil {
		t.Error("Ready after a 400: nil")
	}
	var doc webhook.Document
	if err := json.Unmarshal(rc.requests()[3].body, &doc); err != nil || doc.Change != "resolve" || doc.Incident.State != model.StateResolved {
		t.Errorf("resolve document %+v (%v)", doc, err)
	}
}

func TestClassifiesAnswers(t *testing.T) {
	t.Setenv("REACHMON_TEST_WEBHOOK_SECRET", secret)
	for status, want := range map[int]struct{ retry, fatal bool }{
		400: {}, 404: {}, 401: {fatal: true}, 429: {retry: true}, 500: {retry: true}, 502: {retry: true},
	} {
		rc := newReceiver(t, status)
		n, err := webhook.New(config.WebhookConfig{Name: "x", URL: rc.srv.URL, SecretEnv: "REACHMON_TEST_WEBHOOK_SECRET"}, webhook.Options{})
		if err != nil {
			t.Fatal(err)
		}
		_, err = n.Deliver(context.Background(), notify.Delivery{Kind: notify.KindOpen, Incident: inc(), Now: t0})
		var ne *notify.Error
		if !errors.As(err, &ne) || ne.Retry != want.retry || ne.Fatal != want.fatal {
			t.Errorf("HTTP %d: %#v", status, err)
		}
	}
}

func waitFor(t *testing.T, clk *notifytest.Clock, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		if clk.Waiters() > 0 {
			clk.AdvanceToNext()
		}
		time.Sleep(time.Millisecond)
	}
}
