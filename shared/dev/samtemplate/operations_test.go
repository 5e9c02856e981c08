package samtemplate_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"testing"

	"github.com/workerfleet/workerfleet/shared/dev/samtemplate"
)

func document(t *testing.T) (map[string]any, string) {
	t.Helper()
	_, dir := load(t)
	data, err := os.ReadFile(filepath.Join(dir, "template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	doc, err := samtemplate.ParseDocument(data)
	if err != nil {
		t.Fatal(err)
	}
	return doc, dir
}

func mapOf(v any) map[string]any { m, _ := v.(map[string]any); return m }

// TestEveryFunctionLogsToAGroupWithRetention: each function names a log group of
// its own, created by the template with the LogRetentionDays retention, so no
// function's logs land in a group Lambda creates without one.
func TestEveryFunctionLogsToAGroupWithRetention(t *testing.T) {
	doc, _ := document(t)
	resources := mapOf(doc["Resources"])
	used := map[string]string{}
	for id, r := range resources {
		if mapOf(r)["Type"] != "AWS::Serverless::Function" {
			continue
		}
		group, _ := mapOf(mapOf(mapOf(r)["Properties"])["LoggingConfig"])["LogGroup"].(map[string]any)["Ref"].(string)
		lg := mapOf(resources[group])
		if lg["Type"] != "AWS::Logs::LogGroup" {
			t.Errorf("%s: LoggingConfig.LogGroup is not a Ref to a log group of the template", id)
			continue
		}
		if other, ok := used[group]; ok {
			t.Errorf("%s and %s share the log group %s", id, other, group)
		}
		used[group] = id
		if ret := mapOf(mapOf(lg["Properties"])["RetentionInDays"])["Ref"]; ret != "LogRetentionDays" {
			t.Errorf("log group %s: RetentionInDays is %v, want !Ref LogRetentionDays", group, ret)
		}
	}
	if len(used) == 0 {
		t.Fatal("no function names a log group")
	}
}

// TestAlarmsNotifyTheTopicWhenOneIsSet: every alarm notifies the alarm topic (the
// given ARN or the created one) when one is configured, and no one otherwise.
func TestAlarmsNotifyTheTopicWhenOneIsSet(t *testing.T) {
	doc, _ := document(t)
	n := 0
	for id, r := range mapOf(doc["Resources"]) {
		if mapOf(r)["Type"] != "AWS::CloudWatch::Alarm" {
			continue
		}
		n++
		props := mapOf(mapOf(r)["Properties"])
		for _, key := range []string{"AlarmActions", "OKActions"} {
			got, _ := json.Marshal(props[key])
			want := `{"Fn::If":["HasAlarmActions",[{"Fn::If":["HasAlarmTopicArn",{"Ref":"AlarmTopicArn"},{"Ref":"AlarmTopic"}]}],{"Ref":"AWS::NoValue"}]}`
			if string(got) != want {
				t.Errorf("alarm %s: %s is %s", id, key, got)
			}
		}
	}
	if n < 3 {
		t.Errorf("the template has %d alarms; want those for failed and missed iterations and API 5xx", n)
	}
}

// TestDashboardNamesMetricsTheCodeEmits: the dashboard is valid JSON, refers only to
// the template's resources, and every metric of the workerfleet namespace it or an
// alarm shows is one the provisioner writes (shared/provision's EMF lines).
func TestDashboardNamesMetricsTheCodeEmits(t *testing.T) {
	doc, dir := document(t)
	resources := mapOf(doc["Resources"])
	body, _ := mapOf(mapOf(mapOf(resources["Dashboard"])["Properties"])["DashboardBody"])["Fn::Sub"].(string)
	if body == "" {
		t.Fatal("no Dashboard with a !Sub DashboardBody")
	}
	refs := regexp.MustCompile(`\$\{([A-Za-z0-9:]+)(\.[A-Za-z]+)?\}`)
	for _, m := range refs.FindAllStringSubmatch(body, -1) {
		if _, ok := resources[m[1]]; !ok && m[1] != "AWS::Region" && m[1] != "AWS::StackName" {
			t.Errorf("the dashboard refers to %s, which the template does not define", m[1])
		}
	}
	var parsed struct {
		Widgets []map[string]any `json:"widgets"`
	}
	if err := json.Unmarshal([]byte(refs.ReplaceAllString(body, "x")), &parsed); err != nil || len(parsed.Widgets) == 0 {
		t.Fatalf("the dashboard body is not JSON with widgets: %v", err)
	}

	shown := map[string]bool{}
	for _, m := range regexp.MustCompile(`\["workerfleet", "([A-Za-z]+)"`).FindAllStringSubmatch(body, -1) {
		shown[m[1]] = true
	}
	for _, m := range regexp.MustCompile(`\{workerfleet,Pool\} MetricName=\\"([A-Za-z]+)\\"`).FindAllStringSubmatch(body, -1) {
		shown[m[1]] = true
	}
	for _, r := range resources {
		if p := mapOf(mapOf(r)["Properties"]); mapOf(r)["Type"] == "AWS::CloudWatch::Alarm" && p["Namespace"] == "workerfleet" {
			shown[p["MetricName"].(string)] = true
		}
	}
	files, _ := filepath.Glob(filepath.Join(dir, "shared", "provision", "*.go"))
	emitted := map[string]bool{}
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range regexp.MustCompile(`\.Put\("([A-Za-z]+)"`).FindAllStringSubmatch(string(src), -1) {
			emitted[m[1]] = true
		}
	}
	var missing []string
	for name := range shown {
		if !emitted[name] {
			missing = append(missing, name)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 || len(shown) < 5 {
		t.Errorf("the dashboard shows %d workerfleet metrics; these the code does not emit: %v", len(shown), missing)
	}
}
