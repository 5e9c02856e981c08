package samtemplate_test

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// policyEval evaluates a function's IAM statements as written in template.yaml for
// given parameter values: the intrinsic functions the policies use (Ref, Sub, If,
// Join, Equals, Not, Or, And, Condition) are resolved, and Allow statements are
// matched on action, resource and the condition operators they use (StringEquals,
// StringLike, ArnLike). It models what these statements need, not all of IAM; a
// statement it cannot read fails the test rather than being skipped.
type policyEval struct {
	t      *testing.T
	doc    map[string]any
	params map[string]any
}

func newPolicyEval(t *testing.T, params map[string]string) *policyEval {
	doc, _ := document(t)
	e := &policyEval{t: t, doc: doc, params: map[string]any{
		"AWS::Partition": "aws", "AWS::AccountId": "123456789012", "AWS::Region": "us-east-1", "AWS::URLSuffix": "amazonaws.com",
	}}
	for name, p := range mapOf(doc["Parameters"]) {
		v, ok := params[name]
		if !ok {
			v = fmt.Sprint(mapOf(p)["Default"])
		}
		if mapOf(p)["Type"] == "CommaDelimitedList" {
			var list []any
			for _, s := range strings.Split(v, ",") {
				list = append(list, strings.TrimSpace(s))
			}
			e.params[name] = list
			continue
		}
		e.params[name] = v
	}
	return e
}

var subVar = regexp.MustCompile(`\$\{([A-Za-z0-9:.]+)\}`)

func (e *policyEval) resolve(v any) any {
	switch x := v.(type) {
	case []any:
		out := make([]any, 0, len(x))
		for _, i := range x {
			if r := e.resolve(i); r != nil {
				out = append(out, r)
			}
		}
		return out
	case map[string]any:
		if len(x) != 1 {
			out := map[string]any{}
			for k, i := range x {
				out[k] = e.resolve(i)
			}
			return out
		}
		for k, arg := range x {
			switch k {
			case "Ref":
				if arg == "AWS::NoValue" {
					return nil
				}
				r, ok := e.params[arg.(string)]
				if !ok {
					return "${" + arg.(string) + "}" // a resource: its name stays symbolic
				}
				return r
			case "Fn::Sub":
				return subVar.ReplaceAllStringFunc(arg.(string), func(m string) string {
					if r, ok := e.params[m[2:len(m)-1]].(string); ok {
						return r
					}
					return m
				})
			case "Fn::If":
				a := arg.([]any)
				if e.condition(a[0].(string)) {
					return e.resolve(a[1])
				}
				return e.resolve(a[2])
			case "Fn::Join":
				a := arg.([]any)
				var parts []string
				for _, p := range e.resolve(a[1]).([]any) {
					parts = append(parts, fmt.Sprint(p))
				}
				return strings.Join(parts, a[0].(string))
			case "Fn::GetAtt":
				return fmt.Sprintf("${%v}", arg)
			}
			return map[string]any{k: e.resolve(arg)}
		}
	}
	return v
}

func (e *policyEval) condition(name string) bool {
	c, ok := mapOf(e.doc["Conditions"])[name]
	if !ok {
		e.t.Fatalf("no condition %s", name)
	}
	return e.truth(c)
}

func (e *policyEval) truth(v any) bool {
	for k, arg := range mapOf(v) {
		switch k {
		case "Condition":
			return e.condition(arg.(string))
		case "Fn::Equals":
			a := arg.([]any)
			return fmt.Sprint(e.resolve(a[0])) == fmt.Sprint(e.resolve(a[1]))
		case "Fn::Not":
			return !e.truth(arg.([]any)[0])
		case "Fn::Or":
			for _, c := range arg.([]any) {
				if e.truth(c) {
					return true
				}
			}
			return false
		case "Fn::And":
			for _, c := range arg.([]any) {
				if !e.truth(c) {
					return false
				}
			}
			return true
		}
	}
	e.t.Fatalf("cannot evaluate condition %v", v)
	return false
}

func strs(v any) []string {
	switch x := v.(type) {
	case string:
		return []string{x}
	case []any:
		var out []string
		for _, i := range x {
			out = append(out, strs(i)...)
		}
		return out
	}
	return nil
}

// glob matches IAM's wildcards (* and ?), which path.Match would stop at '/'.
func glob(pattern, s string) bool {
	re := "^" + strings.NewReplacer(`\*`, ".*", `\?`, ".").Replace(regexp.QuoteMeta(pattern)) + "$"
	return regexp.MustCompile(re).MatchString(s)
}

// allows reports whether one of the function's Allow statements grants action on
// resource with the request context ctx (condition keys; a missing key fails its
// condition, as in IAM).
func (e *policyEval) allows(function, action, resource string, ctx map[string]string) bool {
	props := mapOf(mapOf(mapOf(e.doc["Resources"])[function])["Properties"])
	for _, p := range props["Policies"].([]any) {
		for _, st := range e.resolve(mapOf(p)["Statement"]).([]any) {
			m := mapOf(st)
			if m["Effect"] != "Allow" {
				continue
			}
			if !anyMatch(strs(m["Action"]), action, glob) || !anyMatch(strs(m["Resource"]), resource, glob) {
				continue
			}
			if e.conditionsHold(mapOf(m["Condition"]), ctx) {
				return true
			}
		}
	}
	return false
}

func anyMatch(patterns []string, s string, match func(p, s string) bool) bool {
	for _, p := range patterns {
		if match(p, s) {
			return true
		}
	}
	return false
}

func (e *policyEval) conditionsHold(conds map[string]any, ctx map[string]string) bool {
	for op, kv := range conds {
		var match func(p, s string) bool
		switch op {
		case "StringEquals":
			match = func(p, s string) bool { return p == s }
		case "StringLike", "ArnLike":
			match = glob
		default:
			e.t.Fatalf("condition operator %s is not modelled", op)
		}
		for key, want := range mapOf(kv) {
			got, ok := ctx[key]
			if !ok || !anyMatch(strs(want), got, match) {
				return false
			}
		}
	}
	return true
}

// TestProvisionerEC2Permissions (finding 3): the provisioner tags only while
// launching, and launches only into the subnets and security groups the operator
// allows.
func TestProvisionerEC2Permissions(t *testing.T) {
	const (
		acct     = "123456789012"
		instance = "arn:aws:ec2:us-east-1:" + acct + ":instance/i-0123456789abcdef0"
		subnetA  = "arn:aws:ec2:us-east-1:" + acct + ":subnet/subnet-0a"
		subnetB  = "arn:aws:ec2:us-east-1:" + acct + ":subnet/subnet-0b"
		sgA      = "arn:aws:ec2:us-east-1:" + acct + ":security-group/sg-0a"
		sgB      = "arn:aws:ec2:us-east-1:" + acct + ":security-group/sg-0b"
		eni      = "arn:aws:ec2:us-east-1:" + acct + ":network-interface/*"
	)
	ours := map[string]string{"aws:RequestTag/workerfleet:instance-set": "workerfleet", "aws:RequestedRegion": "us-east-1"}
	with := func(extra map[string]string) map[string]string {
		out := map[string]string{}
		for k, v := range ours {
			out[k] = v
		}
		for k, v := range extra {
			out[k] = v
		}
		return out
	}
	restricted := map[string]string{"LaunchSubnetArns": subnetA, "LaunchSecurityGroupArns": sgA}
	for _, tt := range []struct {
		name             string
		params           map[string]string
		action, resource string
		ctx              map[string]string
		want             bool
	}{
		{"tag at launch", nil, "ec2:CreateTags", instance, with(map[string]string{"ec2:CreateAction": "RunInstances"}), true},
		{"tag an existing instance as ours", nil, "ec2:CreateTags", instance, ours, false},
		{"tag through another action", nil, "ec2:CreateTags", instance, with(map[string]string{"ec2:CreateAction": "CreateVolume"}), false},
		{"launch tagged as ours", nil, "ec2:RunInstances", instance, ours, true},
		{"launch untagged", nil, "ec2:RunInstances", instance, map[string]string{"aws:RequestedRegion": "us-east-1"}, false},
		{"terminate ours", nil, "ec2:TerminateInstances", instance, map[string]string{"ec2:ResourceTag/workerfleet:instance-set": "workerfleet", "aws:RequestedRegion": "us-east-1"}, true},
		{"terminate another's", nil, "ec2:TerminateInstances", instance, map[string]string{"aws:RequestedRegion": "us-east-1"}, false},
		{"any subnet by default", nil, "ec2:RunInstances", subnetB, ours, true},
		{"any security group by default", nil, "ec2:RunInstances", sgB, ours, true},
		{"an allowed subnet", restricted, "ec2:RunInstances", subnetA, ours, true},
		{"another subnet", restricted, "ec2:RunInstances", subnetB, ours, false},
		{"an allowed security group", restricted, "ec2:RunInstances", sgA, ours, true},
		{"another security group", restricted, "ec2:RunInstances", sgB, ours, false},
		{"an interface in an allowed subnet", restricted, "ec2:RunInstances", eni, with(map[string]string{"ec2:Subnet": subnetA}), true},
		{"an interface in another subnet", restricted, "ec2:RunInstances", eni, with(map[string]string{"ec2:Subnet": subnetB}), false},
		{"another account's subnet by default", nil, "ec2:RunInstances", "arn:aws:ec2:us-east-1:999999999999:subnet/subnet-0c", ours, false},
		{"another region", nil, "ec2:RunInstances", subnetA, map[string]string{"aws:RequestedRegion": "ap-south-1"}, false},
	} {
		e := newPolicyEval(t, tt.params)
		if got := e.allows("ProvisionerFunction", tt.action, tt.resource, tt.ctx); got != tt.want {
			t.Errorf("%s: %s on %s with %v allowed = %v, want %v", tt.name, tt.action, tt.resource, tt.ctx, got, tt.want)
		}
	}
}

// TestReadsCannotStarveRegistrationOrTheProvisioner (finding 5): registration, the
// secrets API, EC2 events and the provisioner have concurrency reserved for them,
// the APIs serving anonymous reads are capped, and the costliest anonymous reads
// have throttles of their own, below the API's default, on routes the template
// has. ReserveConcurrency=false removes the reservations.
func TestReadsCannotStarveRegistrationOrTheProvisioner(t *testing.T) {
	tmpl, _ := load(t)
	routes := map[string]bool{}
	for _, r := range tmpl.Routes() {
		routes[r.Key()] = true
	}
	for _, tt := range []struct {
		reserve string
		want    map[string]bool // function: reserved
	}{
		{"true", map[string]bool{"ProvisionerFunction": true, "RegistrationFunction": true, "SecretsApiFunction": true, "Ec2EventsFunction": true,
			"AwsProvisionerApiFunction": true, "WorkerManagerApiFunction": true, "StatusPageFunction": true}},
		{"false", map[string]bool{}},
	} {
		e := newPolicyEval(t, map[string]string{"ReserveConcurrency": tt.reserve})
		for id, r := range mapOf(e.doc["Resources"]) {
			if mapOf(r)["Type"] != "AWS::Serverless::Function" {
				continue
			}
			n, _ := e.resolve(mapOf(mapOf(r)["Properties"])["ReservedConcurrentExecutions"]).(int)
			if reserved := n > 0; reserved != tt.want[id] {
				t.Errorf("ReserveConcurrency=%s: %s reserves %d, want reserved %v", tt.reserve, id, n, tt.want[id])
			}
		}
	}
	e := newPolicyEval(t, nil)
	api := mapOf(mapOf(mapOf(e.doc["Resources"])["HttpApi"])["Properties"])
	// The API's throttle is a parameter (ApiThrottleRateLimit): its default.
	def, _ := strconv.Atoi(fmt.Sprint(e.resolve(mapOf(api["DefaultRouteSettings"])["ThrottlingRateLimit"])))
	settings := mapOf(api["RouteSettings"])
	for _, key := range []string{"GET /api/aws-provisioner/v1/list-worker-type-summaries", "GET /api/aws-provisioner/v1/list-worker-types",
		"GET /api/aws-provisioner/v1/state/{workerType+}", "GET /api/worker-manager/v1/worker-pools"} {
		if _, ok := settings[key]; !ok {
			t.Errorf("the anonymous read %s has no throttle of its own", key)
		}
	}
	for key, s := range settings {
		if !routes[key] {
			t.Errorf("RouteSettings names %s, which is no route of the template", key)
		}
		if rate, _ := mapOf(s)["ThrottlingRateLimit"].(int); rate <= 0 || rate >= def {
			t.Errorf("%s: rate %d, want below the default %d", key, rate, def)
		}
	}
}
