// Package version holds build information, set with -ldflags -X.
package version

import "runtime/debug"

// Version is set at build time: -ldflags "-X github.com/reachmon/reachmon/internal/version.Version=v1.2.3".
var Version = ""

// Get returns the version: the -X value, else the module version or VCS
// revision recorded by the Go toolchain, else "devel".
func Get() string {
	if Version != "" {
		return Version
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "devel"
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			return "devel-" + s.Value[:12]
		}
	}
	return "devel"
}
