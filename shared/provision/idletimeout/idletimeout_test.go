package idletimeout

import (
	"testing"
	"time"
)

func repeat(d time.Duration, n int) []time.Duration {
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = d
	}
	return out
}

func TestChoose(t *testing.T) {
	const s = time.Second
	for _, tc := range []struct {
		name     string
		gaps     []time.Duration
		relaunch time.Duration
		want     time.Duration
	}{
		{"nothing known: keep workers as long as allowed", nil, 220 * s, 30 * time.Minute},
		{"gaps shorter than a relaunch are waited out", repeat(200*s, 10), 220 * s, 200 * s},
		{"the same gaps with a cheap relaunch are not", repeat(200*s, 10), 20 * s, 30 * s},
		{"long gaps: shut down at once", repeat(time.Hour, 10), 220 * s, 30 * s},
		{"gaps below the floor: the floor covers them", repeat(10*s, 10), 220 * s, 30 * s},
		{"a few long gaps outweigh many short ones (a worker lands in a long one more often)",
			append(repeat(120*s, 10), repeat(time.Hour, 10)...), 220 * s, 30 * s},
		{"a relaunch dearer than any wait: the ceiling", repeat(5000*s, 4), 10000 * s, 30 * time.Minute},
		{"bursts a few minutes apart, seconds within", append(repeat(2*s, 40), repeat(150*s, 10)...), 220 * s, 150 * s},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Choose(tc.gaps, tc.relaunch, 30*s, 30*time.Minute); got != tc.want {
				t.Errorf("Choose = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestPools(t *testing.T) {
	start := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	// feed observes an arrival every gap, n times, from start.
	feed := func(p *Pools, pool string, gap time.Duration, n int, boot time.Duration) time.Time {
		at := start
		for i := range n {
			at = start.Add(time.Duration(i) * gap)
			p.Observe(pool, at, float64(i+1), boot)
		}
		return at
	}
	for _, tc := range []struct {
		name  string
		gap   time.Duration
		n     int
		boot  time.Duration
		after time.Duration // from the last arrival
		want  time.Duration
	}{
		{"too little history: the fallback", 3 * time.Minute, 10, 20 * time.Second, 0, 5 * time.Minute},
		{"arrivals every 10 minutes, relaunch 80 s: 30 s", 10 * time.Minute, 30, 20 * time.Second, 0, 30 * time.Second},
		{"arrivals every 3 minutes, relaunch 220 s: wait for them", 3 * time.Minute, 40, 160 * time.Second, 0, 3 * time.Minute},
		{"no boot seen yet: the fallback", 3 * time.Minute, 40, 0, 0, 5 * time.Minute},
		{"history older than the window: the fallback", 3 * time.Minute, 40, 160 * time.Second, 7 * time.Hour, 5 * time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &Pools{Fallback: 5 * time.Minute}
			last := feed(p, "a/b", tc.gap, tc.n, tc.boot)
			if got := p.Timeout("a/b", last.Add(tc.after)); got != tc.want {
				t.Errorf("Timeout = %v, want %v", got, tc.want)
			}
			if got := p.Timeout("other/pool", last); got != 5*time.Minute {
				t.Errorf("a pool never observed: %v, want the fallback", got)
			}
		})
	}
}

// TestObserveCountsRises: only a rise in demand is an arrival; a steady or falling
// demand (tasks claimed or finishing) is not.
func TestObserveCountsRises(t *testing.T) {
	p := &Pools{}
	at := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	for i, d := range []float64{0, 3, 3, 2, 5, 5, 1, 4} {
		p.Observe("p", at.Add(time.Duration(i)*time.Minute), d, time.Second)
	}
	h := p.pools["p"]
	var got []time.Duration
	for _, g := range h.gaps {
		got = append(got, g.d)
	}
	want := []time.Duration{3 * time.Minute, 3 * time.Minute}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("gaps %v, want %v (arrivals at minutes 1, 4 and 7)", got, want)
	}
}
