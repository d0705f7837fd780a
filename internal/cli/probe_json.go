package cli

import (
	"encoding/json"

	"github.com/reachmon/reachmon/internal/model"
)

// The units of reachmon.probe/v1: every duration is also given in seconds,
// in a field whose name ends in _s ("latency_s": 0.0123, "ttl_s": 86400),
// the unit of DNS TTLs and of Prometheus. The fields of the first v1
// documents stay as they were (latency_ns and ttl_ns in nanoseconds,
// min_ttl and ttl in seconds): fields are only added within a version.

// MarshalJSON writes a NameReport with the _s fields next to the v1 ones.
func (nr NameReport) MarshalJSON() ([]byte, error) {
	type plain NameReport // without this method
	doc := struct {
		plain
		Observations []observationJSON `json:"observations"`
		Discovery    *discoveryJSON    `json:"discovery,omitempty"`
		DSCheck      *dsCheckJSON      `json:"ds_check,omitempty"`
	}{plain: plain(nr), Observations: make([]observationJSON, len(nr.Observations))}
	for i, o := range nr.Observations {
		doc.Observations[i] = observationJSON{Observation: o, LatencyS: o.Latency.Seconds(), MinTTLS: o.MinTTL,
			CDRetry: cdRetryInSeconds(o.CDRetry), RRSIG: sigInSeconds(o.RRSIG)}
	}
	if d := nr.Discovery; d != nil {
		doc.Discovery = &discoveryJSON{Discovery: *d, TTLS: d.TTL.Seconds()}
	}
	if c := nr.DSCheck; c != nil {
		doc.DSCheck = &dsCheckJSON{DSCheck: *c, DNSKEYRRSIG: sigInSeconds(c.DNSKEYRRSIG)}
	}
	return json.Marshal(doc)
}

// The wrappers below add the _s fields; a field of the wrapper hides the
// embedded field of the same JSON name (cd_retry, rrsig, dnskey_rrsig).
type observationJSON struct {
	model.Observation
	LatencyS float64       `json:"latency_s"`
	MinTTLS  uint32        `json:"min_ttl_s"`
	CDRetry  *cdRetryJSON  `json:"cd_retry,omitempty"`
	RRSIG    *sigValidJSON `json:"rrsig,omitempty"`
}

type cdRetryJSON struct {
	model.CDRetry
	LatencyS float64 `json:"latency_s"`
}

type sigValidJSON struct {
	model.SigValidity
	TTLS uint32 `json:"ttl_s"`
}

type discoveryJSON struct {
	model.Discovery
	TTLS float64 `json:"ttl_s"`
}

type dsCheckJSON struct {
	model.DSCheck
	DNSKEYRRSIG *sigValidJSON `json:"dnskey_rrsig,omitempty"`
}

func cdRetryInSeconds(c *model.CDRetry) *cdRetryJSON {
	if c == nil {
		return nil
	}
	return &cdRetryJSON{CDRetry: *c, LatencyS: c.Latency.Seconds()}
}

func sigInSeconds(s *model.SigValidity) *sigValidJSON {
	if s == nil {
		return nil
	}
	return &sigValidJSON{SigValidity: *s, TTLS: s.TTL}
}
