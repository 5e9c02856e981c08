package childproc

import (
	"strings"
	"sync"
	"testing"
)

func TestTailKeepsTheLastBytes(t *testing.T) {
	tests := []struct {
		name   string
		max    int
		writes []string
		want   string
	}{
		{"under the limit", 16, []string{"a\n", "b"}, "a\nb"},
		{"over the limit", 4, []string{"hello ", "world"}, "orld"},
		{"white space trimmed", 16, []string{"  x \n"}, "x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := NewTail(tt.max)
			for _, w := range tt.writes {
				if n, err := b.Write([]byte(w)); n != len(w) || err != nil {
					t.Fatalf("Write(%q) = %d, %v", w, n, err)
				}
			}
			if got := b.String(); got != tt.want {
				t.Errorf("String() = %q, want %q", got, tt.want)
			}
		})
	}
}

// A process writes while its starter reads: run with -race to see the lock matter.
func TestTailConcurrentWriteAndRead(t *testing.T) {
	b := NewTail(64)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		for range 1000 {
			b.Write([]byte("line\n"))
		}
	}()
	go func() {
		defer wg.Done()
		for range 1000 {
			if s := b.String(); len(s) > 64 {
				t.Errorf("kept %d bytes, more than 64", len(s))
				return
			}
		}
	}()
	wg.Wait()
	if !strings.HasSuffix(b.String(), "line") {
		t.Errorf("String() = %q, want it to end with the last line", b.String())
	}
}

func TestFreePortIsOnLoopbackAndFree(t *testing.T) {
	p, err := FreePort()
	if err != nil || p <= 0 {
		t.Fatalf("FreePort() = %d, %v", p, err)
	}
}
