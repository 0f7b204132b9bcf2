package main

import (
	"fmt"
	goruntime "runtime"
	"runtime/debug"
	"strings"
)

// helpText answers ronctl help [COMMAND...] and ronctl COMMAND --help: the
// command's lines of the usage (every subcommand of a group such as
// token), its examples and a pointer to the global flags; the whole usage
// without a command or for one it does not know.
func helpText(args []string) string {
	if len(args) == 0 {
		return usage
	}
	cmd := args[0]
	if len(args) > 1 && (cmd == "token" || cmd == "key" || cmd == "name" || cmd == "audit" || cmd == "registry") {
		if text := commandLines(cmd + " " + args[1]); text != "" {
			cmd += " " + args[1]
		}
	}
	lines := commandLines(cmd)
	if lines == "" {
		return usage
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Usage: ronctl %s\n", strings.TrimSpace(strings.SplitN(lines, "\n", 2)[0]))
	b.WriteString("\n" + lines)
	if ex := commandExamples(cmd); ex != "" {
		b.WriteString("\nExamples:\n" + ex)
	}
	b.WriteString("\nGlobal flags (anywhere on the line): --node URL, --token TOKEN (or $RON_TOKEN), --json, --quiet,\n" +
		"--oap ADDR with --node-id ID; 'ronctl --help' describes them.\n")
	return b.String()
}

// commandLines returns the entries of the usage's Commands section that
// start with cmd, with their continuation lines.
func commandLines(cmd string) string {
	section := usage[strings.Index(usage, "Commands:\n")+len("Commands:\n"):]
	section = section[:strings.Index(section, "\n\n")+1]
	var b strings.Builder
	taking := false
	for _, line := range strings.SplitAfter(section, "\n") {
		entry := strings.TrimPrefix(line, "  ")
		switch {
		case strings.HasPrefix(entry, " "): // a continuation
		case entry == cmd+"\n" || strings.HasPrefix(entry, cmd+" "):
			taking = true
		default:
			taking = false
		}
		if taking {
			b.WriteString(line)
		}
	}
	return b.String()
}

// commandExamples returns the usage's examples that run cmd.
func commandExamples(cmd string) string {
	section := usage[strings.Index(usage, "Examples:\n")+len("Examples:\n"):]
	var b strings.Builder
	for _, line := range strings.SplitAfter(section, "\n") {
		if strings.Contains(line, "ronctl "+cmd+" ") || strings.Contains(line, "ronctl "+cmd+"\n") {
			b.WriteString(line)
		}
	}
	return b.String()
}

// wantsVersion reports whether args ask for the version: ronctl --version
// alone or last. (--version N is also the key retire flag, so it is the
// version request only when no value follows.)
func wantsVersion(args []string) bool {
	if len(args) == 0 {
		return false
	}
	last := args[len(args)-1]
	return last == "--version" || last == "-version"
}

// versionLine is the answer to --version: the module version (when
// installed with go install at a version), the Go version and the VCS
// revision the binary was built from, when the build recorded it.
func versionLine() string {
	release, revision, dirty := "dev", "unknown", ""
	if info, ok := debug.ReadBuildInfo(); ok {
		if info.Main.Version != "" && info.Main.Version != "(devel)" {
			release = info.Main.Version
		}
		for _, s := range info.Settings {
			switch {
			case s.Key == "vcs.revision":
				revision = s.Value
			case s.Key == "vcs.modified" && s.Value == "true":
				dirty = "+dirty"
			}
		}
	}
	return fmt.Sprintf("ronctl %s (%s, revision %s%s)", release, goruntime.Version(), revision, dirty)
}
