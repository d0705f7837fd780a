package cli

import (
	"bytes"
	"strings"
	"testing"

	"github.com/reachmon/reachmon/internal/evaluate"
)

// TestStatusTable renders evaluate's status of the facebook world with
// every cover withdrawn (testdata/status.json).
func TestStatusTable(t *testing.T) {
	st := readDoc[evaluate.Status](t, "status.json")
	var b bytes.Buffer
	WriteStatusTable(&b, &st, false)
	for _, want := range []string{"vantage test", "BGP verdicts live", "zones: 1, 1 not ok", "facebook.com", "bgp_dns_outage",
		"129.134.30.0/24 WITHDRAWN", "resolvers: 3, 0 not ok", "open incidents (1)", "BGP-caused DNS outage: facebook.com"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, b.String())
		}
	}
}
