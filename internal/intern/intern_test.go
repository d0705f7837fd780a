package intern

import (
	"strings"
	"testing"
	"unsafe"
)

// TestTable: equal strings come back as one copy, not the caller's (a
// substring must not keep its whole string alive), and the table starts
// afresh at Max.
func TestTable(t *testing.T) {
	var tb Table
	big := strings.Repeat("x", 1000) + "ns1.example."
	a := tb.Of(big[1000:])
	b := tb.Of(strings.Clone("ns1.example."))
	if a != "ns1.example." || unsafe.StringData(a) != unsafe.StringData(b) {
		t.Errorf("two equal strings are two copies (%q, %q)", a, b)
	}
	if unsafe.StringData(a) == unsafe.StringData(big[1000:]) {
		t.Errorf("the table keeps the caller's substring")
	}
	if tb.Of("") != "" || tb.Len() != 1 {
		t.Errorf("the empty string is held (%d strings)", tb.Len())
	}
	for i := range Max { // Max more distinct strings: the table starts afresh once
		tb.Of(strings.Repeat("y", i%7) + string(rune('a'+i%26)) + strings.Repeat("z", i/26))
	}
	if n := tb.Len(); n > Max {
		t.Errorf("the table holds %d strings, want at most %d", n, Max)
	}
	if c := tb.Of("ns1.example."); unsafe.StringData(c) == unsafe.StringData(a) {
		t.Errorf("the table did not start afresh beyond %d strings", Max)
	}
}
