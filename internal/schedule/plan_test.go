package schedule

import (
	"reflect"
	"testing"
	"time"

	"github.com/reachmon/reachmon/internal/config"
	"github.com/reachmon/reachmon/internal/model"
)

// The scheduler probes what the plan resolved: the resolvers as planned,
// each zone's query names and interval, its configured servers named by
// address, the zone label as the observations' Target and the FQDN in
// queries and the nameservers list.
func TestNewTakesThePlan(t *testing.T) {
	plan := testConfig(t, `
[[zone]]
name = "Lab.Example."
names = ["@", "www", "WWW"]
types = ["A"]
interval = "300ms"
authoritative = ["127.0.0.1:5310"]
dnssec = false
`)
	s := newForTest(t, plan, nil)
	if !reflect.DeepEqual(s.resolvers, plan.ResolverServers()) {
		t.Errorf("resolvers %+v, want the plan's %+v", s.resolvers, plan.ResolverServers())
	}
	z := s.zones[0]
	if !reflect.DeepEqual(z.ZonePlan, plan.Zones[0]) {
		t.Errorf("zone %+v, want the plan's %+v", z.ZonePlan, plan.Zones[0])
	}
	var got []string
	for _, j := range s.resolverJobs(z) {
		if every := s.every(j); every != 300*time.Millisecond {
			t.Errorf("%s every %v, want the zone's 300ms", j, every)
		}
		got = append(got, j.String())
	}
	want := []string{
		"res lab.example. r1 lab.example. A", "res lab.example. r1 www.lab.example. A",
		"res lab.example. r2 lab.example. A", "res lab.example. r2 www.lab.example. A",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("resolver jobs %q, want %q", got, want)
	}

	r := &recorder{probes: map[string]int{}}
	out := make(chan model.Event, 1)
	s, err := New(plan, r, out, Options{})
	if err != nil {
		t.Fatal(err)
	}
	wantAuth := map[string][]model.AuthServer{"lab.example.": {{
		Host: "127.0.0.1:5310", Addr: plan.Zones[0].Authoritative[0], Sources: []model.AuthSource{model.SourceConfig},
	}}}
	if got := s.AuthServers(); !reflect.DeepEqual(got, wantAuth) {
		t.Errorf("AuthServers() = %+v, want %+v", got, wantAuth)
	}
	for _, j := range s.authJobs(s.zones[0], s.zones[0].explicit) {
		obs := make(chan model.Event, 1)
		s.out = obs
		s.runJob(t.Context(), j, s.settings(), nil)
		o := (<-obs).(model.Observation)
		if o.Target != "lab.example" || o.Server.Name != "127.0.0.1:5310" || (o.Name != "lab.example." && o.Name != "www.lab.example.") {
			t.Errorf("%s: observation target %q, server %q, name %q", j, o.Target, o.Server.Name, o.Name)
		}
	}
}

func TestNewWithoutPlan(t *testing.T) {
	if _, err := New(nil, &recorder{}, make(chan model.Event), Options{}); err == nil {
		t.Error("New(nil) did not fail")
	}
	if _, err := New(&config.Plan{}, &recorder{}, make(chan model.Event), Options{}); err == nil {
		t.Error("New with a plan of no configuration did not fail")
	}
}
