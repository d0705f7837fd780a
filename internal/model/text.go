package model

import "unicode/utf8"

// Truncate cuts s to at most n characters (runes), marking a cut with a
// final "…": one rule for every place that shortens a root cause or a
// message for a table, a metric label or a chat fallback.
func Truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}
