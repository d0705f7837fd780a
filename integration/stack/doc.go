// Package stack holds the helpers of reachmon's monitoring-stack tests
// (integration/stack_test.go): a real Prometheus (Debian package) started
// on loopback, the Grafana dashboards of dashboards/ read as data, the
// Docker build context and the docker compose v2 plugin built from the Go
// module proxy into the user cache directory.
package stack
