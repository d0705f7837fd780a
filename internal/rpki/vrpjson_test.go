package rpki

import (
	"bytes"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/reachmon/reachmon/internal/model"
)

func decodeAll(data string) ([]model.VRP, error) {
	var out []model.VRP
	_, err := DecodeVRPs(strings.NewReader(data), func(v model.VRP) { out = append(out, v) })
	return out, err
}

func TestDecodeVRPs(t *testing.T) {
	// The three writers' shapes: rpki-client (number, extra keys and
	// metadata), Routinator and stayrtr ("AS" strings).
	doc := `{
  "metadata": {"buildmachine": "rpki1", "roas": 3},
  "roas": [
    {"asn": 64500, "prefix": "198.51.100.0/24", "maxLength": 24, "ta": "ripe", "expires": 1767225600},
    {"asn": "AS64501", "prefix": "2001:db8::/32", "maxLength": 48, "ta": "arin"},
    {"prefix": "203.0.113.0/24", "maxLength": 32, "asn": "as0"}
  ],
  "aspas": []
}`
	got, err := decodeAll(doc)
	if err != nil {
		t.Fatal(err)
	}
	want := []model.VRP{
		{Prefix: netip.MustParsePrefix("198.51.100.0/24"), MaxLength: 24, ASN: 64500},
		{Prefix: netip.MustParsePrefix("2001:db8::/32"), MaxLength: 48, ASN: 64501},
		{Prefix: netip.MustParsePrefix("203.0.113.0/24"), MaxLength: 32, ASN: 0},
	}
	if !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	if got, err := decodeAll(`{"roas": []}`); err != nil || len(got) != 0 {
		t.Errorf("empty: %v %v", got, err)
	}
}

func TestDecodeVRPsErrors(t *testing.T) {
	for _, tc := range []struct{ doc, want string }{
		{``, `not a JSON object: unexpected end of input`},
		{`[]`, `not a JSON object: found [, want "{"`},
		{`{}`, `no "roas" array`},
		{`{"roas": {}}`, `"roas" is not an array`},
		{`{"roas": [], "roas": []}`, `"roas" appears twice`},
		{`{"roas": [{"prefix": "198.51.100.0/24", "maxLength": 24, "asn": 1}, {"maxLength": 24, "asn": 1}]}`, `roas[1].prefix: missing`},
		{`{"roas": [{"prefix": "198.51.100.0/33", "maxLength": 24, "asn": 1}]}`, `roas[0].prefix: "198.51.100.0/33" is not a prefix`},
		{`{"roas": [{"prefix": "198.51.100.1/24", "maxLength": 24, "asn": 1}]}`, `roas[0].prefix: "198.51.100.1/24" has host bits set (198.51.100.0/24)`},
		{`{"roas": [{"prefix": "198.51.100.0/24", "asn": 1}]}`, `roas[0].maxLength: missing`},
		{`{"roas": [{"prefix": "198.51.100.0/24", "maxLength": 23, "asn": 1}]}`, `roas[0].maxLength: 23 is outside 24..32 for 198.51.100.0/24`},
		{`{"roas": [{"prefix": "2001:db8::/32", "maxLength": 129, "asn": 1}]}`, `roas[0].maxLength: 129 is outside 32..128`},
		{`{"roas": [{"prefix": "198.51.100.0/24", "maxLength": 24}]}`, `roas[0].asn: missing`},
		{`{"roas": [{"prefix": "198.51.100.0/24", "maxLength": 24, "asn": "ASX"}]}`, `roas[0].asn: "ASX" is not an AS number`},
		{`{"roas": [{"prefix": "198.51.100.0/24", "maxLength": 24, "asn": 4294967296}]}`, `roas[0].asn: 4294967296 is not an AS number`},
		{`{"roas": [{"prefix": "198.51.100.0/24", "maxLength": 24, "asn": -1}]}`, `roas[0].asn: -1 is not an AS number`},
		{`{"roas": [{"prefix": 5, "maxLength": 24, "asn": 1}]}`, `roas[0]: json: cannot unmarshal number`},
		{`{"roas": [{"prefix": "198.51.100.0/24", "maxLength": 24, "asn": 1}`, `unexpected end of input`},
		{`{"roas": []} x`, `data after the JSON object`},
	} {
		_, err := decodeAll(tc.doc)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.doc, err, tc.want)
			continue
		}
		var de *DecodeError
		if !errors.As(err, &de) || !strings.Contains(err.Error(), "(byte ") {
			t.Errorf("%s: %v is not a DecodeError with its offset", tc.doc, err)
		}
	}
}

// TestLoadFileNamesLine: a file's error names the file, line and column.
func TestLoadFileNamesLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vrps.json")
	doc := "{\n  \"roas\": [\n    {\"prefix\": \"198.51.100.0/24\", \"maxLength\": 24, \"asn\": 64500},\n    {\"prefix\": \"198.51.100.0/24\", \"maxLength\": 40, \"asn\": 64500}\n  ]\n}\n"
	if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	_, _, _, err := loadFile(path, NewWatch(nil, nil))
	want := path + ":4:"
	if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "roas[1].maxLength: 40 is outside 24..32") {
		t.Errorf("error %v, want %q and the entry", err, want)
	}
	_, _, _, err = loadFile(filepath.Join(t.TempDir(), "none.json"), NewWatch(nil, nil))
	if err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("missing file: %v", err)
	}
}

func FuzzDecodeVRPs(f *testing.F) {
	f.Add([]byte(`{"roas": [{"asn": 64500, "prefix": "198.51.100.0/24", "maxLength": 24, "ta": "ripe"}]}`))
	f.Add([]byte(`{"metadata": {}, "roas": [{"asn": "AS64501", "prefix": "2001:db8::/32", "maxLength": 48}]}`))
	f.Add([]byte(`{"roas": [{"prefix": "198.51.100.0/24", "maxLength": 23, "asn": "AS1"}]}`))
	f.Add([]byte(`{"roas": [`))
	f.Fuzz(func(t *testing.T, data []byte) {
		n, err := DecodeVRPs(bytes.NewReader(data), func(v model.VRP) {
			if !v.Prefix.IsValid() || v.Prefix.Masked() != v.Prefix || int(v.MaxLength) < v.Prefix.Bits() || int(v.MaxLength) > v.Prefix.Addr().BitLen() {
				t.Fatalf("bad VRP passed: %+v", v)
			}
		})
		if err != nil {
			var de *DecodeError
			if !errors.As(err, &de) || de.Offset < 0 || de.Offset > int64(len(data)) {
				t.Fatalf("error %v is not a DecodeError with an offset inside the input", err)
			}
			if n != 0 {
				t.Fatalf("error with count %d", n)
			}
			line, col := lineOf(bytes.NewReader(data), de.Offset)
			if line < 1 || col < 1 {
				t.Fatalf("line %d col %d", line, col)
			}
		}
	})
}

func TestWatchRelevant(t *testing.T) {
	w := NewWatch([]netip.Prefix{netip.MustParsePrefix("198.51.100.0/24"), netip.MustParsePrefix("2001:db8:10::/48")},
		[]netip.Addr{netip.MustParseAddr("192.0.2.53"), netip.MustParseAddr("::ffff:203.0.113.9")})
	for _, tc := range []struct {
		p    string
		want bool
	}{
		{"198.51.100.0/24", true},    // the watched prefix
		{"198.51.0.0/16", true},      // covers it
		{"0.0.0.0/0", true},          // covers everything
		{"198.51.100.128/25", true},  // inside it
		{"198.51.101.0/24", false},   // beside it
		{"192.0.2.0/24", true},       // covers a watched address
		{"192.0.2.53/32", true},      // the address
		{"192.0.2.54/32", false},     // beside the address
		{"203.0.113.0/24", true},     // covers the unmapped address
		{"2001:db8::/32", true},      // covers the IPv6 prefix
		{"2001:db8:10:1::/64", true}, // inside it
		{"2001:db8:11::/48", false},
		{"::/0", true},
	} {
		if got := w.Relevant(netip.MustParsePrefix(tc.p)); got != tc.want {
			t.Errorf("Relevant(%s) = %v, want %v", tc.p, got, tc.want)
		}
	}
	if w.Len() != 4 {
		t.Errorf("Len = %d", w.Len())
	}
}
