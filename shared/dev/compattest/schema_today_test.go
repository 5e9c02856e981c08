package compattest

import (
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"sort"
	"strings"
	"time"
)

// The answers of today's worker-manager, as its JSON schemas
// (services/worker-manager/schemas/v1/*.yml of taskcluster/taskcluster v106) state
// them: for each object its required members, each member's JSON type, enum and
// pattern, and whether other members are refused (additionalProperties: false).
// Written by hand from reading the schemas; only what an answer must satisfy.

// member is one member of an object of a schema.
type member struct {
	// typ is the JSON type: string, integer, number, boolean, object, array;
	// "date-time" is a string of that format.
	typ     string
	min     *float64 // minimum, for integers and numbers
	enum    []string
	pattern string
	shape   *shape // for an object of known members
	items   *shape // for an array of objects
}

// shape is an object of a schema.
type shape struct {
	name     string
	required []string
	members  map[string]member
	closed   bool // additionalProperties: false
}

func minimum(v float64) *float64 { return &v }

var (
	str        = member{typ: "string"}
	dateTime   = member{typ: "date-time"}
	boolean    = member{typ: "boolean"}
	object     = member{typ: "object"}
	count      = member{typ: "integer", min: minimum(0)}
	ident      = member{typ: "string", pattern: `^[a-zA-Z0-9-_]{1,38}$`} // identifier-pattern, 1 to 38
	poolID     = member{typ: "string", pattern: `^[a-zA-Z0-9-_]{1,38}/[a-z]([-a-z0-9]{0,36}[a-z0-9])?$`}
	slugID     = member{typ: "string", pattern: `^[A-Za-z0-9_-]{8}[Q-T][A-Za-z0-9_-][CGKOSWaeimquy26-][A-Za-z0-9_-]{10}[AQgw]$`}
	secret44   = member{typ: "string", pattern: `^[a-zA-Z0-9_-]{44}$`}
	countNames = []string{"currentCapacity", "requestedCount", "runningCount", "stoppingCount", "stoppedCount",
		"requestedCapacity", "runningCapacity", "stoppingCapacity", "stoppedCapacity"}
)

// with is members plus the nine worker figures of today's pool answers.
func withCounts(m map[string]member) map[string]member {
	for _, n := range countNames {
		m[n] = count
	}
	return m
}

var (
	providerListShape = &shape{name: "provider-list", required: []string{"providers"}, closed: true, members: map[string]member{
		"providers": {typ: "array", items: &shape{name: "provider", required: []string{"providerId", "providerType"}, closed: true,
			members: map[string]member{"providerId": str, "providerType": str}}},
		"continuationToken": str,
	}}
	workerPoolFullShape = &shape{name: "worker-pool-full", closed: true,
		required: append([]string{"providerId", "description", "created", "lastModified", "config", "owner", "emailOnError"}, countNames...),
		members: withCounts(map[string]member{"workerPoolId": poolID, "providerId": ident, "description": str, "created": dateTime,
			"lastModified": dateTime, "config": object, "owner": str, "emailOnError": boolean})}
	workerPoolListShape = &shape{name: "worker-pool-list", required: []string{"workerPools"}, closed: true, members: map[string]member{
		"workerPools": {typ: "array", items: workerPoolFullShape}, "continuationToken": str}}
	launchConfigListShape = &shape{name: "worker-pool-launch-config-list", required: []string{"workerPoolLaunchConfigs"}, closed: true,
		members: map[string]member{
			"workerPoolLaunchConfigs": {typ: "array", items: &shape{name: "launch config", closed: true,
				required: []string{"launchConfigId", "workerPoolId", "isArchived", "configuration", "created", "lastModified"},
				members: map[string]member{"launchConfigId": str, "workerPoolId": str, "isArchived": boolean, "configuration": object,
					"created": dateTime, "lastModified": dateTime}}},
			"continuationToken": str}}
	workerPoolStatsShape = &shape{name: "worker-pool-stats", required: []string{"launchConfigStats"}, closed: true, members: map[string]member{
		"launchConfigStats": {typ: "array", items: &shape{name: "launch config stats", closed: true,
			required: append([]string{"workerPoolId", "launchConfigId"}, countNames...),
			members:  withCounts(map[string]member{"workerPoolId": poolID, "launchConfigId": str})}}}}
	workerPoolListStatsShape = &shape{name: "worker-pool-list-stats", required: []string{"workerPoolsStats"}, closed: true, members: map[string]member{
		"workerPoolsStats": {typ: "array", items: &shape{name: "worker pool stats", closed: true,
			required: append([]string{"workerPoolId"}, countNames...), members: withCounts(map[string]member{"workerPoolId": poolID})}},
		"continuationToken": str}}
	workerPoolErrorShape = &shape{name: "worker-pool-error", closed: true,
		required: []string{"workerPoolId", "errorId", "reported", "kind", "title", "description", "extra"},
		members: map[string]member{"workerPoolId": poolID, "errorId": slugID, "reported": dateTime,
			"kind": {typ: "string", pattern: `[-a-z0-9]+`}, "title": str, "description": str, "extra": object, "launchConfigId": ident}}
	workerPoolErrorListShape = &shape{name: "worker-pool-error-list", required: []string{"workerPoolErrors"}, closed: true, members: map[string]member{
		"workerPoolErrors": {typ: "array", items: workerPoolErrorShape}, "continuationToken": str}}
	workerPoolErrorStatsShape = &shape{name: "worker-pool-error-stats", required: []string{"workerPoolId", "totals"}, closed: true,
		members: map[string]member{
			"workerPoolId": {typ: "string", pattern: `^$|^[a-zA-Z0-9-_]{1,38}/[a-z]([-a-z0-9]{0,36}[a-z0-9])?$`},
			"totals": {typ: "object", shape: &shape{name: "totals", closed: true,
				required: []string{"total", "daily", "hourly", "title", "code", "launchConfig", "workerPool"},
				members: map[string]member{"total": {typ: "number"}, "daily": object, "hourly": object, "title": object, "code": object,
					"launchConfig": object, "workerPool": object}}}}}
	workerFullShape = &shape{name: "worker-full", closed: true,
		required: []string{"workerPoolId", "workerGroup", "workerId", "providerId", "created", "expires", "state", "capacity", "lastChecked", "lastModified"},
		members: map[string]member{"workerPoolId": poolID, "workerGroup": ident, "workerId": ident, "providerId": ident,
			"created": dateTime, "expires": dateTime, "lastModified": dateTime, "lastChecked": dateTime,
			"state":    {typ: "string", enum: []string{"requested", "running", "stopping", "stopped"}},
			"capacity": {typ: "integer", min: minimum(1)}, "launchConfigId": ident}}
	workerListShape = &shape{name: "worker-list", required: []string{"workers"}, closed: true, members: map[string]member{
		"workers": {typ: "array", items: workerFullShape}, "continuationToken": str}}
	taskRunShape     = &shape{name: "task-run", required: []string{"taskId", "runId"}, closed: true, members: map[string]member{"taskId": slugID, "runId": count}}
	queueWorkerEnum  = []string{"requested", "running", "stopping", "stopped", "standalone"}
	listWorkersShape = &shape{name: "list-workers-response", required: []string{"workers"}, closed: true, members: map[string]member{
		"workers": {typ: "array", items: &shape{name: "worker", required: []string{"workerGroup", "workerId"}, closed: true,
			members: map[string]member{"workerGroup": ident, "workerId": ident, "workerPoolId": poolID, "quarantineUntil": dateTime,
				"firstClaim": dateTime, "latestTask": {typ: "object", shape: taskRunShape}, "lastDateActive": dateTime,
				"state": {typ: "string", enum: queueWorkerEnum}, "capacity": count, "providerId": ident, "launchConfigId": ident}}},
		"continuationToken": str}}
	workerResponseShape = &shape{name: "worker-response", closed: true,
		required: []string{"provisionerId", "workerType", "workerGroup", "workerId", "recentTasks", "expires", "firstClaim"},
		members: map[string]member{"provisionerId": str, "workerType": str, "workerPoolId": poolID, "workerGroup": ident, "workerId": ident,
			"recentTasks": {typ: "array", items: taskRunShape}, "expires": dateTime, "quarantineUntil": dateTime,
			"quarantineDetails": {typ: "array", items: &shape{name: "quarantine details", closed: true,
				required: []string{"clientId", "updatedAt", "quarantineUntil", "quarantineInfo"},
				members:  map[string]member{"clientId": str, "updatedAt": dateTime, "quarantineUntil": dateTime, "quarantineInfo": str}}},
			"firstClaim": dateTime, "lastDateActive": dateTime, "state": {typ: "string", enum: queueWorkerEnum}, "capacity": count,
			"providerId": ident, "launchConfigId": ident}}
	credentialsShape = &shape{name: "credentials", required: []string{"accessToken", "clientId"}, closed: true,
		members: map[string]member{"accessToken": str, "clientId": str, "certificate": str}}
	registerShape = &shape{name: "register-worker-response", required: []string{"expires", "credentials", "workerConfig", "secret"}, closed: true,
		members: map[string]member{"expires": dateTime, "credentials": {typ: "object", shape: credentialsShape}, "workerConfig": object, "secret": secret44}}
	reregisterShape = &shape{name: "reregister-worker-response", required: []string{"expires", "credentials", "secret"}, closed: true,
		members: map[string]member{"expires": dateTime, "credentials": {typ: "object", shape: credentialsShape}, "secret": secret44}}
	shouldTerminateShape = &shape{name: "should-worker-terminate-response", required: []string{"terminate", "reason"}, closed: true,
		members: map[string]member{"terminate": boolean, "reason": {typ: "string", pattern: `.`}}}
)

// todaysOutputs is each method's output schema (nil: the reference declares none).
var todaysOutputs = map[string]*shape{
	"ping": nil, "lbheartbeat": nil, "version": nil, "heartbeat": nil, "removeWorker": nil,
	"listProviders":               providerListShape,
	"createWorkerPool":            workerPoolFullShape,
	"updateWorkerPool":            workerPoolFullShape,
	"deleteWorkerPool":            workerPoolFullShape,
	"workerPool":                  workerPoolFullShape,
	"listWorkerPoolLaunchConfigs": launchConfigListShape,
	"workerPoolStats":             workerPoolStatsShape,
	"listWorkerPools":             workerPoolListShape,
	"listWorkerPoolsStats":        workerPoolListStatsShape,
	"reportWorkerError":           workerPoolErrorShape,
	"workerPoolErrorStats":        workerPoolErrorStatsShape,
	"listWorkerPoolErrors":        workerPoolErrorListShape,
	"listWorkersForWorkerGroup":   workerListShape,
	"worker":                      workerFullShape,
	"createWorker":                workerFullShape,
	"updateWorker":                workerFullShape,
	"listWorkersForWorkerPool":    workerListShape,
	"registerWorker":              registerShape,
	"reregisterWorker":            reregisterShape,
	"listWorkers":                 listWorkersShape,
	"getWorker":                   workerResponseShape,
	"shouldWorkerTerminate":       shouldTerminateShape,
}

// conform lists how v, decoded JSON, departs from s (at path).
func conform(path string, v any, s *shape) []string {
	obj, ok := v.(map[string]any)
	if !ok {
		return []string{fmt.Sprintf("%s: %s, want an object (%s)", path, kindOf(v), s.name)}
	}
	var problems []string
	for _, r := range s.required {
		if _, ok := obj[r]; !ok {
			problems = append(problems, fmt.Sprintf("%s.%s: missing (required by %s)", path, r, s.name))
		}
	}
	names := make([]string, 0, len(obj))
	for n := range obj {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		m, known := s.members[n]
		if !known {
			if s.closed {
				problems = append(problems, fmt.Sprintf("%s.%s: not a member of %s (additionalProperties: false)", path, n, s.name))
			}
			continue
		}
		problems = append(problems, m.conform(path+"."+n, obj[n])...)
	}
	return problems
}

func (m member) conform(path string, v any) []string {
	bad := func(format string, args ...any) []string { return []string{path + ": " + fmt.Sprintf(format, args...)} }
	switch m.typ {
	case "string", "date-time":
		s, ok := v.(string)
		if !ok {
			return bad("%s, want a string", kindOf(v))
		}
		if m.typ == "date-time" {
			if _, err := time.Parse(time.RFC3339Nano, s); err != nil {
				return bad("%q is not a date-time", s)
			}
		}
		if len(m.enum) > 0 && !contains(m.enum, s) {
			return bad("%q is not one of %s", s, strings.Join(m.enum, ", "))
		}
		if m.pattern != "" && !regexp.MustCompile(m.pattern).MatchString(s) {
			return bad("%q does not match %s", s, m.pattern)
		}
	case "integer", "number":
		f, ok := v.(float64)
		if !ok {
			return bad("%s, want a%s %s", kindOf(v), map[bool]string{true: "n"}[m.typ == "integer"], m.typ)
		}
		if m.typ == "integer" && f != math.Trunc(f) {
			return bad("%v, want an integer", f)
		}
		if m.min != nil && f < *m.min {
			return bad("%v, below the minimum %v", f, *m.min)
		}
	case "boolean":
		if _, ok := v.(bool); !ok {
			return bad("%s, want a boolean", kindOf(v))
		}
	case "object":
		if _, ok := v.(map[string]any); !ok {
			return bad("%s, want an object", kindOf(v))
		}
		if m.shape != nil {
			return conform(path, v, m.shape)
		}
	case "array":
		a, ok := v.([]any)
		if !ok {
			return bad("%s, want an array", kindOf(v))
		}
		var problems []string
		for i, item := range a {
			if m.items != nil {
				problems = append(problems, conform(fmt.Sprintf("%s[%d]", path, i), item, m.items)...)
			}
		}
		return problems
	}
	return nil
}

func kindOf(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case float64:
		return "a number"
	case bool:
		return "a boolean"
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	}
	return fmt.Sprintf("%T", v)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// decodeAny decodes raw JSON into any (numbers as float64).
func decodeAny(raw json.RawMessage) any {
	var v any
	_ = json.Unmarshal(raw, &v)
	return v
}
