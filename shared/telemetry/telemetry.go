// Package telemetry sets up what every function emits: structured logs through log/slog
// (aws-lambda-go's lambdacontext handler, JSON in Lambda, with the request id), metrics
// as CloudWatch Embedded Metric Format lines, and X-Ray tracing of AWS SDK calls.
package telemetry

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-xray-sdk-go/v2/instrumentation/awsv2"
)

// InLambda reports whether the process runs inside AWS Lambda.
func InLambda() bool { return os.Getenv("AWS_LAMBDA_FUNCTION_NAME") != "" }

// Setup makes the Lambda log handler the default slog logger and returns it. In Lambda
// the template sets the JSON log format; AWS_LAMBDA_LOG_LEVEL sets the level. It also
// sets the Go memory limit from the function's memory size (SetMemoryLimit).
func Setup() *slog.Logger {
	l := lambdacontext.NewLogger(lambdacontext.WithFunctionARN())
	slog.SetDefault(l)
	if limit, ok := SetMemoryLimit(); ok {
		l.Debug("memory limit set from the function's memory size", "bytes", limit)
	}
	return l
}

// MemoryLimitShare is the share of a function's memory size the Go heap may use
// before the garbage collector works harder: the rest is the runtime's, the
// stacks' and Lambda's own.
const MemoryLimitShare = 0.85

// SetMemoryLimit sets the Go runtime's soft memory limit to MemoryLimitShare of
// the function's memory size (AWS_LAMBDA_FUNCTION_MEMORY_SIZE, in MB), unless
// GOMEMLIMIT is set (the runtime has read it) or the size is unknown (outside
// Lambda). Without a limit the heap may grow to twice the live data before a
// collection (GOGC=100), and a function whose live data passes half its memory
// is killed for it. It returns the limit and whether it set one.
func SetMemoryLimit() (int64, bool) {
	limit, ok := memoryLimit(os.Getenv("GOMEMLIMIT"), os.Getenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE"))
	if ok {
		debug.SetMemoryLimit(limit)
	}
	return limit, ok
}

// memoryLimit is the limit SetMemoryLimit sets for the two variables.
func memoryLimit(gomemlimit, functionMB string) (int64, bool) {
	if gomemlimit != "" {
		return 0, false
	}
	mb, err := strconv.Atoi(functionMB)
	if err != nil || mb <= 0 {
		return 0, false
	}
	return int64(float64(mb) * MemoryLimitShare * (1 << 20)), true
}

// AWSConfig loads the default AWS configuration; inside Lambda it also traces every
// SDK call with X-Ray (outside, there is no segment to attach subsegments to).
func AWSConfig(ctx context.Context, opts ...func(*config.LoadOptions) error) (aws.Config, error) {
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("load aws config: %w", err)
	}
	if InLambda() {
		awsv2.AWSV2Instrumentor(&cfg.APIOptions)
	}
	return cfg, nil
}

// Unit is a CloudWatch metric unit.
type Unit string

// Units used here.
const (
	Count        Unit = "Count"
	Milliseconds Unit = "Milliseconds"
	None         Unit = "None"
)

// Metrics collects metric values and writes them as CloudWatch Embedded Metric Format
// lines: one line per set of dimension values. CloudWatch Logs turns each line into
// metrics; no API call is made.
type Metrics struct {
	namespace string
	now       func() time.Time
	mu        sync.Mutex
	groups    map[string]*emfGroup
	order     []string
}

type emfGroup struct {
	dims   map[string]string
	values map[string]float64
	units  map[string]Unit
}

// NewMetrics returns a collector for a namespace.
func NewMetrics(namespace string) *Metrics {
	return &Metrics{namespace: namespace, now: time.Now, groups: map[string]*emfGroup{}}
}

// Put records a value of a metric under dimensions (name, value pairs); a later Put
// of the same metric and dimensions replaces it.
func (m *Metrics) Put(name string, value float64, unit Unit, dims ...string) {
	if len(dims)%2 != 0 {
		dims = append(dims, "")
	}
	dm := make(map[string]string, len(dims)/2)
	key := ""
	for i := 0; i < len(dims); i += 2 {
		dm[dims[i]] = dims[i+1]
		key += dims[i] + "\x00" + dims[i+1] + "\x00"
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	g, ok := m.groups[key]
	if !ok {
		g = &emfGroup{dims: dm, values: map[string]float64{}, units: map[string]Unit{}}
		m.groups[key] = g
		m.order = append(m.order, key)
	}
	g.values[name] = value
	g.units[name] = unit
}

// Flush writes every group as one EMF JSON line to w and forgets them.
func (m *Metrics) Flush(w io.Writer) error {
	m.mu.Lock()
	groups, order := m.groups, m.order
	m.groups, m.order = map[string]*emfGroup{}, nil
	m.mu.Unlock()
	ts := m.now().UnixMilli()
	for _, key := range order {
		g := groups[key]
		dimNames := make([]string, 0, len(g.dims))
		for k := range g.dims {
			dimNames = append(dimNames, k)
		}
		sort.Strings(dimNames)
		names := make([]string, 0, len(g.values))
		for k := range g.values {
			names = append(names, k)
		}
		sort.Strings(names)
		defs := make([]map[string]string, 0, len(names))
		line := map[string]any{}
		for _, n := range names {
			defs = append(defs, map[string]string{"Name": n, "Unit": string(g.units[n])})
			line[n] = g.values[n]
		}
		for k, v := range g.dims {
			line[k] = v
		}
		line["_aws"] = map[string]any{
			"Timestamp": ts,
			"CloudWatchMetrics": []any{map[string]any{
				"Namespace":  m.namespace,
				"Dimensions": [][]string{dimNames},
				"Metrics":    defs,
			}},
		}
		data, err := json.Marshal(line)
		if err != nil {
			return fmt.Errorf("encode metrics: %w", err)
		}
		if _, err := fmt.Fprintf(w, "%s\n", data); err != nil {
			return fmt.Errorf("write metrics: %w", err)
		}
	}
	return nil
}
