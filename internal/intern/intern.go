// Package intern shares equal strings between the many structures that
// keep them: at 10,000 zones served by one DNS host, each zone's state
// would otherwise hold its own copy of the same nameserver names, decoded
// afresh from every answer.
package intern

import "strings"

// Table returns one shared copy of each string it is given. It holds at
// most Max strings and starts afresh beyond: strings shared until then
// stay shared, and strings that went out of use are not kept for ever.
// A Table is not safe for concurrent use; the zero Table is ready.
type Table struct{ m map[string]string }

// Max bounds the strings a Table holds.
const Max = 1 << 16

// Of returns the table's copy of s, adding a copy of s (not s itself,
// which may be part of a larger string) when it has none.
func (t *Table) Of(s string) string {
	if s == "" {
		return ""
	}
	if v, ok := t.m[s]; ok {
		return v
	}
	if t.m == nil || len(t.m) >= Max {
		t.m = make(map[string]string)
	}
	s = strings.Clone(s)
	t.m[s] = s
	return s
}

// Len is the number of strings held.
func (t *Table) Len() int { return len(t.m) }
