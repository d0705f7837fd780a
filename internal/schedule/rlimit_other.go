//go:build !unix

package schedule

// openFileLimit is unknown here.
func openFileLimit() int { return 0 }
