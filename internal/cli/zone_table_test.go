package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/reachmon/reachmon/internal/evaluate"
)

// TestZoneTableGolden renders testdata/zone.json (evaluate's detail of a
// signed zone whose DS matches no DNSKEY, its validating resolver failing
// with EDE 6 and a CD=1 retry that succeeds, its nameservers' serials 7
// and 8, one nameserver's route withdrawn) and compares it byte for byte
// with testdata/zone.golden.
func TestZoneTableGolden(t *testing.T) {
	d := readDoc[evaluate.ZoneDetail](t, "zone.json")
	var b bytes.Buffer
	WriteZoneTable(&b, &d)
	// A zone that is only configured: no results, no discovery yet.
	bare := evaluate.ZoneDetail{Schema: evaluate.ZoneSchema, Time: d.Time, Vantage: "test", Zone: "new.example",
		Health: evaluate.HealthUnknown, Servers: []evaluate.ServerDetail{{Name: "cloudflare", Kind: "resolver", Health: evaluate.HealthUnknown}}}
	WriteZoneTable(&b, &bare)
	want, err := os.ReadFile(filepath.Join("testdata", "zone.golden"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b.Bytes(), want) {
		t.Errorf("table differs from testdata/zone.golden:\n%s", b.String())
	}
}
