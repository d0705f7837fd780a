package evaluate

import (
	"slices"
	"testing"
	"time"

	"github.com/reachmon/reachmon/internal/model"
)

// TestNegativeAnswersAreNoVantageDown: without control zones, every check
// of two zones answering NODATA (names configured that the zones do not
// hold) is the zones' problem, not "every check fails" from this vantage:
// an answer proves the network works. The same checks timing out are.
func TestNegativeAnswersAreNoVantageDown(t *testing.T) {
	for _, tc := range []struct {
		name string
		obs  func(z string, s model.Server, now time.Time) model.Observation
		want []model.IncidentKind
	}{
		{"NODATA everywhere", func(z string, s model.Server, now time.Time) model.Observation {
			o := okObs(z, s, now, "", 60) // NOERROR without an answer of the type
			o.AA = s.Kind == model.KindAuthoritative
			return o
		}, []model.IncidentKind{model.IncidentRecordMissing, model.IncidentRecordMissing}},
		{"NXDOMAIN from every resolver", func(z string, s model.Server, now time.Time) model.Observation {
			if s.Kind == model.KindAuthoritative {
				return okObs(z, s, now, "192.0.2.80", 60)
			}
			return failObs(z, s, now, "NXDOMAIN", "")
		}, []model.IncidentKind{model.IncidentResolverNXDomain, model.IncidentResolverNXDomain}},
		{"timeouts everywhere", func(z string, s model.Server, now time.Time) model.Observation {
			return failObs(z, s, now, "", model.ErrTimeout)
		}, []model.IncidentKind{model.IncidentVantageDown}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tg := Targets{Vantage: "test", Zones: []Zone{{Name: "example.com."}, {Name: "example.org."}}, Resolvers: threeResolvers()}
			w := newWorld(t, testConfig(), tg)
			w.auth["example.com"] = []authSrv{{"ns1.example.com.", mustAddr("192.0.2.53")}}
			w.auth["example.org"] = []authSrv{{"ns1.example.org.", mustAddr("198.51.100.53")}}
			w.probe = healthy("192.0.2.80", 60)
			w.runFor(3*time.Minute, 30*time.Second)
			if len(w.changes) > 0 {
				t.Fatalf("changes while healthy: %+v", w.changes)
			}
			w.probe = tc.obs
			w.runFor(3*time.Minute, 30*time.Second)
			got := w.openKinds()
			slices.Sort(got)
			if !slices.Equal(got, tc.want) {
				var why []string
				for _, i := range w.e.Open() {
					why = append(why, string(i.Kind)+": "+i.RootCause)
				}
				t.Fatalf("open %v, want %v\n%v", got, tc.want, why)
			}
		})
	}
}

// TestDNSSECFailureBeatsMissingRecord: a configured name the zone does not
// hold (NODATA at its servers) while validating resolvers fail with the
// DNSSEC signature is a DNSSEC failure first: it breaks the whole zone.
func TestDNSSECFailureBeatsMissingRecord(t *testing.T) {
	tg := Targets{Vantage: "test", Zones: []Zone{{Name: "example.com."}, {Name: "example.org."}}, Resolvers: threeResolvers()}
	w := newWorld(t, testConfig(), tg)
	w.auth["example.com"] = []authSrv{{"ns1.example.com.", mustAddr("192.0.2.53")}}
	w.probe = healthy("192.0.2.80", 60)
	w.runFor(3*time.Minute, 30*time.Second)
	w.probe = func(z string, s model.Server, now time.Time) model.Observation {
		switch {
		case z == "example.org":
			return okObs(z, s, now, "192.0.2.81", 60)
		case s.Kind == model.KindAuthoritative:
			o := okObs(z, s, now, "", 60)
			o.AA = true
			return o
		}
		o := failObs(z, s, now, "SERVFAIL", "")
		o.CDRetry = &model.CDRetry{Rcode: "NOERROR", Succeeded: true}
		return o
	}
	w.runFor(3*time.Minute, 30*time.Second)
	if got := w.openKinds(); !slices.Equal(got, []model.IncidentKind{model.IncidentDNSSEC}) {
		var why []string
		for _, i := range w.e.Open() {
			why = append(why, string(i.Kind)+": "+i.RootCause)
		}
		t.Fatalf("open %v, want only dnssec_failure\n%v", got, why)
	}
}
