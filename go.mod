module github.com/reachmon/reachmon

go 1.26.8

require (
	github.com/BurntSushi/toml v1.6.0 // indirect
	github.com/miekg/dns v1.1.73 // indirect
	github.com/osrg/gobgp/v3 v3.37.0 // indirect
	github.com/prometheus/client_golang v1.25.0 // indirect
	golang.org/x/net v0.59.0 // indirect
	golang.org/x/sync v0.24.0 // indirect
	golang.org/x/sys v0.48.0 // indirect
)
