package rie

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/workerfleet/workerfleet/shared/dev/samtemplate"
)

// TestReportWriterTakesTheLifecycleFigures: the emulator's REPORT line claims a
// near-zero init and counts the init in the duration; the figures come from its
// INIT REPORT and INVOKE RTDONE lines, and its own informational lines and REPORT
// line are not passed on.
func TestReportWriterTakesTheLifecycleFigures(t *testing.T) {
	lines := []string{
		"02 Dec 2026 04:43:01,525 [INFO] (rapid) exec '/x/bootstrap' (cwd=/x, handler=)",
		"START RequestId: id-1 Version: $LATEST",
		"02 Dec 2026 04:43:01,562 [INFO] (rapid) INIT REPORT(durationMs: 17.778000)",
		`{"level":"INFO","message":"request"}`,
		"02 Dec 2026 04:43:01,593 [INFO] (rapid) INVOKE RTDONE(status: success, produced bytes: 0, duration: 30.971000ms)",
		"END RequestId: id-1",
		"REPORT RequestId: id-1\tInit Duration: 0.03 ms\tDuration: 49.16 ms\tBilled Duration: 50 ms\tMemory Size: 256 MB\tMax Memory Used: 256 MB\t",
		// A warm invocation, and one whose RTDONE line is missing.
		"REPORT RequestId: id-2\tDuration: 5.00 ms\tBilled Duration: 5 ms\tMemory Size: 256 MB\tMax Memory Used: 256 MB\t",
		"02 Dec 2026 04:43:01,620 [WARNING] (rapid) Reset initiated: SandboxTerminated",
	}
	var out strings.Builder
	w := newReportWriter(&out)
	first, second := w.subscribe("id-1"), w.subscribe("id-2")
	text := strings.Join(lines, "\n") + "\n"
	// Written in pieces that split lines, as a pipe delivers them.
	for i := 0; i < len(text); i += 37 {
		if _, err := w.Write([]byte(text[i:min(i+37, len(text))])); err != nil {
			t.Fatal(err)
		}
	}
	ms := func(f float64) time.Duration { return time.Duration(f * float64(time.Millisecond)) }
	if r := <-first; r.init != ms(17.778) || r.duration != ms(30.971) {
		t.Errorf("cold invocation: %+v, want init 17.778ms and duration 30.971ms", r)
	}
	if r := <-second; r.init != 0 || r.duration != ms(5) {
		t.Errorf("warm invocation: %+v, want no init and duration 5ms", r)
	}
	want := "START RequestId: id-1 Version: $LATEST\n" + `{"level":"INFO","message":"request"}` + "\nEND RequestId: id-1\n" +
		"02 Dec 2026 04:43:01,620 [WARNING] (rapid) Reset initiated: SandboxTerminated\n"
	if out.String() != want {
		t.Errorf("passed on:\n%s\nwant:\n%s", out.String(), want)
	}
}

// TestLambdaBuildFlagsAreTheMakefiles: make invoke and make coldstart build the
// bootstraps with LambdaBuildFlags; they must be the flags SAM's build targets use
// (the Makefile's LAMBDA_FLAGS), or the emulator measures another binary.
func TestLambdaBuildFlagsAreTheMakefiles(t *testing.T) {
	path, err := samtemplate.Find()
	if err != nil {
		t.Fatal(err)
	}
	makefile, err := os.ReadFile(filepath.Join(filepath.Dir(path), "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	var flags string
	for _, line := range strings.Split(string(makefile), "\n") {
		if v, ok := strings.CutPrefix(line, "LAMBDA_FLAGS"); ok {
			if v, ok = strings.CutPrefix(strings.TrimSpace(v), ":="); ok {
				flags = strings.TrimSpace(v)
			}
		}
	}
	if flags == "" {
		t.Fatal("the Makefile sets no LAMBDA_FLAGS :=")
	}
	// The shell's word splitting of that line: spaces separate words, except inside
	// double quotes, which it removes.
	var words []string
	var word strings.Builder
	quoted, inWord := false, false
	for _, r := range flags {
		switch {
		case r == '"':
			quoted, inWord = !quoted, true
		case r == ' ' && !quoted:
			if inWord {
				words, inWord = append(words, word.String()), false
				word.Reset()
			}
		default:
			word.WriteRune(r)
			inWord = true
		}
	}
	if inWord {
		words = append(words, word.String())
	}
	if diff := cmp.Diff(words, LambdaBuildFlags("$(REVISION)")); diff != "" {
		t.Errorf("LambdaBuildFlags differ from the Makefile's LAMBDA_FLAGS %s (-Makefile +rie):\n%s", flags, diff)
	}
}

// TestBuildAllStampsTheRevision: one go build makes every asked bootstrap, each
// where it was asked for, each carrying the source's git revision (which
// __version__ reports).
func TestBuildAllStampsTheRevision(t *testing.T) {
	if testing.Short() {
		t.Skip("builds two bootstraps")
	}
	path, err := samtemplate.Find()
	if err != nil {
		t.Fatal(err)
	}
	repo := filepath.Dir(path)
	rev := Revision(context.Background(), repo)
	if rev == "" {
		t.Skip("not a git checkout")
	}
	dir := t.TempDir()
	outs := map[string]string{
		"./functions/worker-manager-api": filepath.Join(dir, "worker-manager-api", "bootstrap"),
		"./functions/secrets-api":        filepath.Join(dir, "secrets-api", "bootstrap"),
	}
	if err := BuildAll(context.Background(), repo, outs, ""); err != nil {
		t.Fatal(err)
	}
	for pkg, out := range outs {
		data, err := os.ReadFile(out)
		if err != nil {
			t.Fatalf("%s: %v", pkg, err)
		}
		if !bytes.Contains(data, []byte(rev)) {
			t.Errorf("%s's bootstrap does not carry the revision %s", pkg, rev)
		}
	}
}
