package benchscale

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"time"
)

// sampleZones is how many zones' probes are counted one by one at each
// scrape. Prometheus gets no per-zone probe counters (issue 18: they were
// most of /metrics); the per-zone detail of /api/v1/status?zone= has each
// query's probe count, so a fixed sample of zones, spread over the whole
// range, stands for them.
const sampleZones = 200

// sampleOf is the zones sampled out of n: every n/sampleZones-th.
func sampleOf(n int) []string {
	step := max(1, n/sampleZones)
	var out []string
	for i := 0; i < n && len(out) < sampleZones; i += step {
		out = append(out, zoneName(i))
	}
	return out
}

// zoneDoc is the part of the reachmon.zone/v1 document the harness reads.
type zoneDoc struct {
	Schema  string `json:"schema"`
	Servers []struct {
		Name    string `json:"name"`
		Kind    string `json:"kind"`
		Results []struct {
			Probes uint64 `json:"probes"`
		} `json:"results"`
	} `json:"servers"`
}

// readSample asks reachmon for the detail of every sampled zone and adds
// the probes done so far per (zone, server) to series, keyed as
// readScrape keyed them before ("zone server kind"): one per check,
// answered or not.
func readSample(base string, zones []string, series map[string]uint64) error {
	for _, z := range zones {
		code, body, err := httpGet(base+"/api/v1/status?zone="+url.QueryEscape(z), 10*time.Second)
		if err != nil {
			return fmt.Errorf("zone detail of %s: %w", z, err)
		}
		if code != http.StatusOK {
			return fmt.Errorf("zone detail of %s: HTTP %d: %.200s", z, code, body)
		}
		var d zoneDoc
		if err := json.Unmarshal([]byte(body), &d); err != nil {
			return fmt.Errorf("zone detail of %s: %w", z, err)
		}
		for _, s := range d.Servers {
			var n uint64
			for _, r := range s.Results {
				n += r.Probes
			}
			series[z+" "+s.Name+" "+s.Kind] = n
		}
	}
	return nil
}
