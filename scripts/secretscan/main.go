// Command secretscan looks for secrets committed to the tree: private-key
// PEM blocks, well-known token formats (cloud keys, forge tokens, chat
// webhooks) and high-entropy strings assigned to secret-like names. It
// reads the files git tracks (or the paths given) and exits 1 on any
// finding not listed in the allow file.
//
// It is a small stand-in for gitleaks (not built here: its module tree
// is large and this keeps the gate's tools few); the rules are few and
// explained, and testdata/canary.txt holds one planted secret per rule
// that the test (and `make gates`) require to be found.
//
// Usage: go run ./scripts/secretscan [-allow FILE] [PATH...]
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strings"
)

// rule is one pattern; a match is a finding unless an entropy floor is set
// and the captured value (group 1) stays below it.
type rule struct {
	name       string
	pattern    *regexp.Regexp
	entropyMin float64 // bits per character of group 1; 0: no floor
}

var rules = []rule{
	{name: "private-key", pattern: regexp.MustCompile(`-----BEGIN ((RSA|EC|DSA|OPENSSH|ENCRYPTED|PGP) )?PRIVATE KEY( BLOCK)?-----`)},
	{name: "aws-access-key", pattern: regexp.MustCompile(`\b(AKIA|ASIA)[0-9A-Z]{16}\b`)},
	{name: "github-token", pattern: regexp.MustCompile(`\b(gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{60,})\b`)},
	{name: "gitlab-token", pattern: regexp.MustCompile(`\bglpat-[A-Za-z0-9_\-]{20,}\b`)},
	{name: "slack-token", pattern: regexp.MustCompile(`\bxox[abposr]-[A-Za-z0-9-]{10,}\b`)},
	{name: "google-api-key", pattern: regexp.MustCompile(`\bAIza[0-9A-Za-z_\-]{35}\b`)},
	{name: "stripe-key", pattern: regexp.MustCompile(`\b[sr]k_live_[0-9A-Za-z]{20,}\b`)},
	// A long random-looking literal assigned to a secret-like name. The
	// floor (4.2 bits/char) passes English words, repeated fixtures and
	// hex digests (at most 4 bits/char) and catches base64 key material.
	{
		name:       "high-entropy-assignment",
		pattern:    regexp.MustCompile(`(?i)(?:secret|passw(?:or)?d|api_?key|access_?key|private_?key|credential|auth_?token)[a-z_]*["']?\s*[:=]+\s*["'` + "`" + `]([A-Za-z0-9+/=_\-]{24,})["'` + "`" + `]`),
		entropyMin: 4.2,
	},
}

// finding is one match.
type finding struct {
	path string
	line int
	rule string
}

func (f finding) String() string { return fmt.Sprintf("%s:%d: %s", f.path, f.line, f.rule) }

func main() {
	allowFile := flag.String("allow", "", "file of allowed findings, one `path:rule` per line, each with a # reason")
	flag.Parse()
	allowed, err := readAllow(*allowFile)
	if err != nil {
		fmt.Fprintln(os.Stderr, "secretscan:", err)
		os.Exit(2)
	}
	paths := flag.Args()
	if len(paths) == 0 {
		if paths, err = trackedFiles(); err != nil {
			fmt.Fprintln(os.Stderr, "secretscan:", err)
			os.Exit(2)
		}
	}
	var found []finding
	for _, p := range paths {
		fs, err := scanFile(p)
		if err != nil {
			fmt.Fprintln(os.Stderr, "secretscan:", err)
			os.Exit(2)
		}
		for _, f := range fs {
			if !allowed[f.path+":"+f.rule] {
				found = append(found, f)
			}
		}
	}
	for _, f := range found {
		fmt.Println(f)
	}
	fmt.Fprintf(os.Stderr, "secretscan: %d files, %d findings\n", len(paths), len(found))
	if len(found) > 0 {
		os.Exit(1)
	}
}

// readAllow reads `path:rule  # reason` lines; a line without a reason is
// an error, so no exclusion goes unexplained.
func readAllow(name string) (map[string]bool, error) {
	allowed := map[string]bool{}
	if name == "" {
		return allowed, nil
	}
	data, err := os.ReadFile(name) // #nosec G304 -- the allow file named on the command line
	if err != nil {
		return nil, err
	}
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		entry, reason, ok := strings.Cut(line, "#")
		if !ok || strings.TrimSpace(reason) == "" {
			return nil, fmt.Errorf("%s:%d: an allowed finding needs a reason after #", name, i+1)
		}
		allowed[strings.TrimSpace(entry)] = true
	}
	return allowed, nil
}

func trackedFiles() ([]string, error) {
	out, err := exec.Command("git", "ls-files", "-z").Output()
	if err != nil {
		return nil, fmt.Errorf("git ls-files: %w", err)
	}
	var paths []string
	for _, p := range strings.Split(string(out), "\x00") {
		if p != "" {
			paths = append(paths, p)
		}
	}
	sort.Strings(paths)
	return paths, nil
}

func scanFile(path string) ([]finding, error) {
	f, err := os.Open(path) // #nosec G304 -- a tracked file of this repository
	if err != nil {
		if os.IsNotExist(err) {
			return nil, nil // deleted in the work tree
		}
		return nil, err
	}
	defer f.Close()
	return scan(path, f)
}

// scan reports the findings in r, line by line. Binary content (a NUL
// byte) ends the scan of a file.
func scan(path string, r io.Reader) ([]finding, error) {
	var found []finding
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
	for line := 1; sc.Scan(); line++ {
		text := sc.Text()
		if strings.IndexByte(text, 0) >= 0 {
			return found, nil
		}
		for _, ru := range rules {
			if matches(ru, text) {
				found = append(found, finding{path: path, line: line, rule: ru.name})
			}
		}
	}
	return found, sc.Err()
}

func matches(ru rule, text string) bool {
	if ru.entropyMin == 0 {
		return ru.pattern.MatchString(text)
	}
	for _, m := range ru.pattern.FindAllStringSubmatch(text, -1) {
		if entropy(m[1]) >= ru.entropyMin {
			return true
		}
	}
	return false
}

// entropy is the Shannon entropy of s in bits per character.
func entropy(s string) float64 {
	counts := map[rune]int{}
	for _, c := range s {
		counts[c]++
	}
	bits := 0.0
	n := float64(len(s))
	for _, c := range counts {
		p := float64(c) / n
		bits -= p * math.Log2(p)
	}
	return bits
}
