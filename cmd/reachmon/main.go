// Command reachmon is an external DNS + BGP reachability monitor.
package main

import (
	"os"

	"github.com/reachmon/reachmon/internal/cli"
)

func main() { os.Exit(cli.Main(os.Args[1:], os.Stdout, os.Stderr)) }
