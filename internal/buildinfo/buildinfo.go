// Package buildinfo says which sov this is: the release version (stamped at
// release time), else the module version or VCS revision of a local build,
// with the llama.cpp commit and the Go toolchain. The CLI's --version uses
// it, and the server's version endpoint will.
package buildinfo

import (
	"fmt"
	"runtime/debug"
)

// Version is sov's version: release if set (goreleaser stamps it into the
// binary), else the module version, else "dev"; with the VCS revision when
// the build recorded one.
func Version(release string) string {
	v, rev := release, ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v = bi.Main.Version
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				rev = s.Value[:12]
			}
		}
	}
	if v == "" {
		v = "dev"
	}
	if rev != "" {
		v += " (" + rev + ")"
	}
	return v
}

// String is Version with the llama.cpp commit (model.LlamaCommit: passed
// in, so this ground-floor package does not import the engine) and the Go
// version, as `sov --version` prints it.
func String(release, llamaCommit string) string {
	goVersion := "go"
	if bi, ok := debug.ReadBuildInfo(); ok {
		goVersion = bi.GoVersion
	}
	return fmt.Sprintf("%s, llama.cpp %s, %s", Version(release), llamaCommit[:min(12, len(llamaCommit))], goVersion)
}
