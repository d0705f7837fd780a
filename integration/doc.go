// Package integration holds reachmon's end-to-end tests against real
// daemons (NSD, Unbound; BIRD and nftables to come), run by
//
//	go test -race ./integration/...
//
// They need root (port 53 on 127/8) and the Debian packages nsd, unbound and
// ldnsutils; without them the tests skip, or fail when CI=true. The lab
// itself is package integration/lab.
package integration
