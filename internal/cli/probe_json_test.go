package cli

import (
	"encoding/json"
	"math"
	"testing"
	"time"

	"github.com/reachmon/reachmon/internal/model"
	"github.com/reachmon/reachmon/internal/testdns"
)

// Every duration of reachmon.probe/v1 is also in seconds, in a field
// ending in _s, next to the v1 fields it repeats (kept unchanged).
func TestProbeJSONUnits(t *testing.T) {
	nr := NameReport{
		Name: "www.example.", Zone: "example.",
		Observations: []model.Observation{{
			Name: "www.example.", Type: "A", Rcode: "SERVFAIL", MinTTL: 300, Latency: 12500 * time.Microsecond,
			CDRetry: &model.CDRetry{Rcode: "NOERROR", Answers: 1, Succeeded: true, Latency: 9 * time.Millisecond},
			RRSIG:   &model.SigValidity{TTL: 3600},
		}},
		Discovery: &model.Discovery{Zone: "example.", TTL: 86400 * time.Second},
		DSCheck:   &model.DSCheck{Zone: "example.", Status: model.DSOK, DNSKEYRRSIG: &model.SigValidity{TTL: 7200}},
	}
	b, err := json.Marshal(nr)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Name         string
		Observations []map[string]any
		Discovery    map[string]any
		DSCheck      map[string]any `json:"ds_check"`
		Verdict      map[string]any
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	o := doc.Observations[0]
	cd := o["cd_retry"].(map[string]any)
	for _, c := range []struct {
		where string
		got   any
		want  float64
	}{
		{"latency_ns", o["latency_ns"], 12500000},
		{"latency_s", o["latency_s"], 0.0125},
		{"min_ttl", o["min_ttl"], 300},
		{"min_ttl_s", o["min_ttl_s"], 300},
		{"cd_retry.latency_ns", cd["latency_ns"], 9000000},
		{"cd_retry.latency_s", cd["latency_s"], 0.009},
		{"rrsig.ttl", o["rrsig"].(map[string]any)["ttl"], 3600},
		{"rrsig.ttl_s", o["rrsig"].(map[string]any)["ttl_s"], 3600},
		{"discovery.ttl_ns", doc.Discovery["ttl_ns"], 86400e9},
		{"discovery.ttl_s", doc.Discovery["ttl_s"], 86400},
		{"ds_check.dnskey_rrsig.ttl_s", doc.DSCheck["dnskey_rrsig"].(map[string]any)["ttl_s"], 7200},
	} {
		if f, ok := c.got.(float64); !ok || math.Abs(f-c.want) > 1e-9 {
			t.Errorf("%s = %v, want %v", c.where, c.got, c.want)
		}
	}
	if doc.Name != "www.example." || o["rcode"] != "SERVFAIL" || cd["succeeded"] != true || doc.DSCheck["status"] != "ok" || doc.Verdict == nil {
		t.Errorf("the v1 fields are not all there:\n%s", b)
	}

	// The document reachmon probe --json prints carries them, and reads
	// back into a ProbeReport.
	res := testdns.Start(t, zone, false)
	code, out, errOut := runMain("probe", "-j", "www.lab.example", "A", "@"+res.Addr)
	var rep struct {
		Names []struct {
			Observations []struct {
				LatencyNS int64   `json:"latency_ns"`
				LatencyS  float64 `json:"latency_s"`
				MinTTL    uint32  `json:"min_ttl"`
				MinTTLS   uint32  `json:"min_ttl_s"`
			}
		}
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil || code != ExitOK {
		t.Fatalf("exit %d, %v\n%s\n%s", code, err, out, errOut)
	}
	ob := rep.Names[0].Observations[0]
	if ob.LatencyS <= 0 || math.Abs(ob.LatencyS-float64(ob.LatencyNS)/1e9) > 1e-9 || ob.MinTTL != 60 || ob.MinTTLS != 60 {
		t.Errorf("observation units: %+v", ob)
	}
	var back ProbeReport
	if err := json.Unmarshal([]byte(out), &back); err != nil || back.Names[0].Observations[0].MinTTL != 60 {
		t.Errorf("reading the document back: %v %+v", err, back)
	}
}
