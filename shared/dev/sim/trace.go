package sim

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// Task is one task of a demand trace.
type Task struct {
	// Pending is when the task became pending, after the trace's start.
	Pending time.Duration
	// Duration is how long it runs once claimed.
	Duration time.Duration
}

// ReadTrace reads a trace in the Firefox CI format (../shared/data/firefox-ci/):
// 8-byte records, sorted by time, each a big-endian uint32 of milliseconds from the
// trace's start to the task's becoming pending, then one of its run time.
func ReadTrace(r io.Reader) ([]Task, error) {
	br := bufio.NewReaderSize(r, 1<<16)
	var tasks []Task
	var rec [8]byte
	for i := 0; ; i++ {
		_, err := io.ReadFull(br, rec[:])
		if errors.Is(err, io.EOF) {
			return tasks, nil
		}
		if err != nil {
			return nil, fmt.Errorf("trace record %d: truncated (a trace is a sequence of 8-byte records)", i)
		}
		t := Task{
			Pending:  time.Duration(binary.BigEndian.Uint32(rec[0:4])) * time.Millisecond,
			Duration: time.Duration(binary.BigEndian.Uint32(rec[4:8])) * time.Millisecond,
		}
		if n := len(tasks); n > 0 && t.Pending < tasks[n-1].Pending {
			return nil, fmt.Errorf("trace record %d: pending at %v, before the previous record's %v (records must be sorted by time)", i, t.Pending, tasks[n-1].Pending)
		}
		tasks = append(tasks, t)
	}
}

// LoadTrace reads the trace file at path.
func LoadTrace(path string) ([]Task, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open trace: %w", err)
	}
	defer f.Close()
	tasks, err := ReadTrace(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return tasks, nil
}

// WriteTrace writes tasks in the trace format (for synthetic traces).
func WriteTrace(w io.Writer, tasks []Task) error {
	var rec [8]byte
	for _, t := range tasks {
		binary.BigEndian.PutUint32(rec[0:4], uint32(t.Pending/time.Millisecond))
		binary.BigEndian.PutUint32(rec[4:8], uint32(t.Duration/time.Millisecond))
		if _, err := w.Write(rec[:]); err != nil {
			return fmt.Errorf("write trace: %w", err)
		}
	}
	return nil
}
