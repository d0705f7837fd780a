package fulltable

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/osrg/gobgp/v3/pkg/packet/bgp"
)

// TestGenerate: a small table has the asked sizes, is the same on every
// run, and its stream is NUpdates parseable BGP UPDATEs ending with the
// two End-of-RIB markers.
func TestGenerate(t *testing.T) {
	a, err := Generate(2000, 500, 100)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Generate(2000, 500, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(a.V4) != 2000 || len(a.V6) != 500 || a.Routes() != 2500 || len(a.Watched) != 100 || a.InFeed != 50 {
		t.Fatalf("sizes: v4 %d v6 %d watched %d in feed %d", len(a.V4), len(a.V6), len(a.Watched), a.InFeed)
	}
	if !bytes.Equal(a.Updates, b.Updates) || a.Imported != b.Imported {
		t.Fatal("two tables of the same sizes differ")
	}
	if a.Imported < a.InFeed {
		t.Errorf("imported %d < watched routes of the feed %d", a.Imported, a.InFeed)
	}
	n, nlri, eor := 0, 0, 0
	for off := 0; off < len(a.Updates); n++ {
		l := int(binary.BigEndian.Uint16(a.Updates[off+16:]))
		m, err := bgp.ParseBGPMessage(a.Updates[off : off+l])
		if err != nil {
			t.Fatalf("message %d: %v", n, err)
		}
		u := m.Body.(*bgp.BGPUpdate)
		if ok, _ := u.IsEndOfRib(); ok {
			eor++
		}
		nlri += len(u.NLRI)
		for _, pa := range u.PathAttributes {
			if r, ok := pa.(*bgp.PathAttributeMpReachNLRI); ok {
				nlri += len(r.Value)
			}
		}
		off += l
	}
	if n != a.NUpdates || nlri != a.Routes() || eor != 2 {
		t.Errorf("stream: %d messages (want %d), %d prefixes (want %d), %d End-of-RIB (want 2)", n, a.NUpdates, nlri, a.Routes(), eor)
	}
}
