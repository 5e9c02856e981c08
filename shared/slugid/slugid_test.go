package slugid

import "testing"

func TestNiceMatchesTaskclustersPattern(t *testing.T) {
	seen := map[string]bool{}
	for range 2000 {
		s := Nice()
		if !Valid(s) || len(s) != 22 || s[0] == '-' {
			t.Fatalf("Nice() = %q does not match %s", s, Pattern)
		}
		if seen[s] {
			t.Fatalf("Nice() repeated %q", s)
		}
		seen[s] = true
	}
	var all [16]byte
	for i := range all {
		all[i] = 0xff
	}
	if s := FromBytes(all); !Valid(s) {
		t.Errorf("FromBytes(ff...) = %q, not a nice slugid", s)
	}
	if Valid("not-a-slugid") || Valid("AAAAAAAAAAAAAAAAAAAAAA") {
		t.Error("Valid accepted a non-slugid")
	}
}
